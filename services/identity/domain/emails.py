"""The emails identity sends, worded as GOV.UK Notify's guidance asks: plain text, the action
first, what happens if the reader did not ask for it."""

from __future__ import annotations

from shared.email import EmailMessage

SERVICE_NAME = "Order CARE badges"


def confirm_email(to: str, link: str, hours: int) -> EmailMessage:
    return EmailMessage(
        to=to,
        subject="Confirm your email address to finish creating your account",
        body=(
            f"To finish creating your {SERVICE_NAME} account, open this link:\n\n{link}\n\n"
            f"The link works once and stops working after {hours} hours. Your account is not "
            "created until you open it.\n\n"
            "If you did not ask for an account, you do not need to do anything: without the "
            "link, no account is made with your email address."
        ),
    )


def already_registered(to: str, sign_in_link: str, reset_link: str) -> EmailMessage:
    """Sent instead of a confirmation when the address already has an account, so the page
    that asked can say the same thing whether or not it had one."""
    return EmailMessage(
        to=to,
        subject="You already have an account",
        body=(
            f"Someone asked to create a {SERVICE_NAME} account with this email address, but "
            f"there is already an account for it.\n\nSign in: {sign_in_link}\n\n"
            f"If you have forgotten your password, reset it: {reset_link}\n\n"
            "If this was not you, you do not need to do anything: nothing has changed."
        ),
    )


def reset_password(to: str, link: str, minutes: int) -> EmailMessage:
    return EmailMessage(
        to=to,
        subject="Reset your password",
        body=(
            f"To choose a new password for your {SERVICE_NAME} account, open this link:\n\n"
            f"{link}\n\nThe link works once and stops working after {minutes} minutes.\n\n"
            "After you choose a new password you will be signed out everywhere, and you will "
            "sign in with your email address and the new password from then on.\n\n"
            "If you did not ask to reset your password, you do not need to do anything: your "
            "password has not changed."
        ),
    )


def password_changed(to: str, contact_link: str) -> EmailMessage:
    return EmailMessage(
        to=to,
        subject="Your password has been changed",
        body=(
            f"The password for your {SERVICE_NAME} account was changed, and every device that "
            "was signed in has been signed out.\n\n"
            f"If you did not change it, contact customer services now: {contact_link}"
        ),
    )


def staff_invitation(
    to: str, link: str, minutes: int, role: str, sign_in: str = ""
) -> EmailMessage:
    """Sent with a link on the pages the role works on, and their address to sign in at."""
    where = f"\n\nThen sign in at {sign_in}" if sign_in else ""
    return EmailMessage(
        to=to,
        subject="Your CARE badges staff account",
        body=(
            f"An account has been made for you to work on {SERVICE_NAME} as "
            f"{role.replace('_', ' ')}. Choose your password with this link:\n\n{link}{where}"
            f"\n\nThe link works once and stops working after {minutes} minutes. If it has "
            "expired, use 'Forgotten your password?' on the sign-in page."
        ),
    )
