"""Creating an account, for providers not on CQC's register, self-employed personal
assistants and local authorities: identity's registration, then its emailed link.

The link's page asks for a click before confirming, so a mail scanner that follows links
cannot confirm an account on the owner's behalf.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.identity import IdentityClient, IdentityRefused
from shared.web import FormErrors, Site

#: Field, and what to say when it is left empty (GOV.UK's "Enter ..." wording).
REQUIRED: tuple[tuple[str, str], ...] = (
    ("organisation_type", "Select the kind of organisation you are"),
    ("organisation_name", "Enter the name of your organisation"),
    ("contact_name", "Enter your full name"),
    ("address_line_1", "Enter the first line of the address"),
    ("city", "Enter the town or city"),
    ("postcode", "Enter the postcode"),
    ("phone", "Enter a phone number"),
    ("email", "Enter your email address"),
    ("password", "Enter a password"),
)
FIELDS = (*(name for name, _ in REQUIRED), "address_line_2")
#: What each field is called in an error that is not about leaving it empty.
LABELS = {
    "organisation_type": "The kind of organisation",
    "organisation_name": "Organisation name",
    "contact_name": "Full name",
    "address_line_1": "Address line 1",
    "address_line_2": "Address line 2",
    "city": "Town or city",
    "postcode": "Postcode",
    "phone": "Phone number",
    "email": "Email address",
    "password": "Password",
}
KINDS = (
    ("non_cqc", "A care provider not registered with CQC"),
    ("personal_assistant", "A self-employed personal assistant"),
    ("local_authority", "A local authority"),
)


def router(pages: Site, identity: IdentityClient) -> APIRouter:
    web = APIRouter(prefix="/create-account", include_in_schema=False)

    def form_page(
        request: Request, values: dict[str, str], errors: FormErrors | None = None
    ) -> HTMLResponse:
        return pages.render(
            request,
            "create_account.html",
            errors=errors,
            title="Create an account",
            values=values,
            kinds=KINDS,
            back_url="/eligibility/registered",
        )

    @web.get("")
    async def create(request: Request) -> HTMLResponse:
        return form_page(request, {})

    @web.post("")
    async def register(request: Request) -> Response:
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name in FIELDS}
        values["password"] = str(form.get("password", ""))  # as typed: spaces count
        errors = FormErrors()
        errors.refuse_unstorable(form, LABELS)
        for name, missing in REQUIRED:
            if not values[name]:
                errors.add(name, missing)
        if not errors:
            try:
                await identity.create_account(values, request.state.correlation_id)
            except IdentityRefused as refused:
                for name, message in refused.field_errors().items():
                    errors.add(name if name in FIELDS else "email", _sentence(name, message))
                if not errors:
                    errors.add("email", "We could not create the account. Try again later")
        if errors:
            values.pop("password")
            return form_page(request, values, errors)
        return pages.render(
            request, "create_account_sent.html", title="Check your email", email=values["email"]
        )

    @web.get("/confirm")
    async def confirm_page(request: Request, token: str = "") -> HTMLResponse:
        return pages.render(
            request,
            "create_account_confirm.html",
            title="Finish creating your account",
            token=token,
        )

    @web.post("/confirm")
    async def confirm(request: Request) -> Response:
        token = str((await request.form()).get("token", ""))
        try:
            await identity.confirm_account(token)  # identity refuses a NUL in it as invalid
        except IdentityRefused as refused:
            errors = FormErrors()
            errors.add(
                "confirm",
                "There is already an account for this email address: sign in"
                if refused.status == 409
                else "This link has expired or has been used. Create your account again",
            )
            return pages.render(
                request,
                "create_account_confirm.html",
                errors=errors,
                title="Finish creating your account",
                token=token,
            )
        return RedirectResponse("/create-account/done", status_code=303)

    @web.get("/done")
    async def done(request: Request) -> HTMLResponse:
        return pages.render(
            request, "create_account_done.html", title="Your account has been created"
        )

    return web


def _sentence(field: str, message: str) -> str:
    """Identity's per-field message as a sentence naming the field when it does not."""
    if message[:1].isupper():
        return message
    return f"{field.replace('_', ' ').capitalize()} {message}"
