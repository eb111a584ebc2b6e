"""One-question-per-page radio questions, declared as data so each page is the same shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.web import FormErrors, Site, web_session


@dataclass(frozen=True)
class Question:
    path: str
    field: str
    title: str
    options: tuple[tuple[str, str], ...]
    #: The error when nothing is chosen: GOV.UK's "Select ..." wording.
    missing: str
    #: Where to go for an answer (given every answer so far).
    next_page: Callable[[dict[str, str]], str]
    hint: str = ""
    back_url: str = "/"


def add_question(web: APIRouter, pages: Site, question: Question) -> None:
    """GET shows the question with any earlier answer; POST checks, keeps it and moves on."""

    def show(request: Request, errors: FormErrors | None = None) -> HTMLResponse:
        answers: dict[str, str] = web_session(request).get("answers", {})
        return pages.render(
            request,
            "question.html",
            status_code=400 if errors else 200,
            errors=errors,
            title=question.title,
            field=question.field,
            hint=question.hint,
            back_url=question.back_url,
            items=[
                {"value": value, "text": text, "checked": answers.get(question.field) == value}
                for value, text in question.options
            ],
        )

    async def get(request: Request) -> HTMLResponse:
        return show(request)

    async def post(request: Request) -> Response:
        form = await request.form()
        value = form.get(question.field)
        if value not in {v for v, _ in question.options}:
            errors = FormErrors()
            errors.add(question.field, question.missing)
            return show(request, errors)
        session = web_session(request)
        answers = {**session.get("answers", {}), question.field: str(value)}
        session["answers"] = answers
        return RedirectResponse(question.next_page(answers), status_code=303)

    name = question.field
    web.add_api_route(question.path, get, methods=["GET"], name=f"{name}-question")
    web.add_api_route(question.path, post, methods=["POST"], name=f"{name}-answer")
