"""The eligibility questions and the "you cannot use this service" pages."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from services.orders.domain.eligibility import Ineligible, Registered, Where, Who, refusal
from services.orders.web.questions import Question, add_question
from shared.web import Site


def _after(answers: dict[str, str]) -> str:
    """Where the eligibility answers so far lead."""
    who = Who(answers["who"]) if "who" in answers else None
    where = Where(answers["where"]) if "where" in answers else None
    refused = refusal(who, where)
    if refused is not None:
        return f"/cannot-use/{refused.value}"
    if where is None:
        return "/eligibility/where"
    if "registered" not in answers:
        return "/eligibility/registered"
    if answers["registered"] == Registered.CQC:
        return "/sign-in"
    return "/create-account"


QUESTIONS = (
    Question(
        path="/eligibility/who",
        field="who",
        title="Who are you ordering badges for?",
        options=(
            (Who.EMPLOYER, "Staff that my organisation pays to work in adult social care"),
            (Who.SELF_EMPLOYED, "Myself: I am a self-employed personal assistant"),
            (Who.UNPAID_CARER, "Myself: I look after someone without being paid for it"),
        ),
        missing="Select who you are ordering badges for",
        next_page=_after,
        back_url="/",
    ),
    Question(
        path="/eligibility/where",
        field="where",
        title="Where do they work?",
        options=(
            (Where.ENGLAND, "England"),
            (Where.ELSEWHERE, "Scotland, Wales, Northern Ireland or outside the UK"),
        ),
        missing="Select where they work",
        next_page=_after,
        back_url="/eligibility/who",
    ),
    Question(
        path="/eligibility/registered",
        field="registered",
        title="Is your organisation registered with the Care Quality Commission (CQC)?",
        hint="Self-employed personal assistants and local authorities are not registered.",
        options=((Registered.CQC, "Yes"), (Registered.NOT_CQC, "No")),
        missing="Select yes if your organisation is registered with CQC",
        next_page=_after,
        back_url="/eligibility/where",
    ),
)


def router(pages: Site) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    for question in QUESTIONS:
        add_question(web, pages, question)

    @web.get("/cannot-use/{reason}")
    async def cannot_use(request: Request, reason: str) -> HTMLResponse:
        try:
            why = Ineligible(reason)
        except ValueError:
            raise HTTPException(404) from None
        return pages.render(
            request,
            "cannot_use.html",
            title="You cannot use this service",
            reason=why.value,
            back_url="/eligibility/who",
        )

    return web
