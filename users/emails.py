"""The emails the service sends. Each is queued after the transaction commits and sent
by the background thread, retried with backoff; a failure is logged, never raised."""

import time
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.html import format_html

from restapi import background
from users.models import User


def _send(subject: str, to: str, text: str, html: str) -> None:
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    for attempt in range(settings.EMAIL_SEND_RETRIES + 1):
        try:
            message.send()
            return
        except OSError:
            if attempt == settings.EMAIL_SEND_RETRIES:
                raise
            time.sleep(2**attempt)


def _queue(subject: str, to: str, text: str, html: str) -> None:
    background.submit_after_commit(_send, subject, to, text, html)


def verification_link(user: User, token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/user/verify?{urlencode({'u': user.pk, 't': token})}"


def send_verification(*, user: User, to: str, token: str) -> None:
    link = verification_link(user, token)
    hours = settings.USER_EMAIL_VERIFICATION_EXP_IN_SECONDS // 3600
    _queue(
        "Confirm your email address",
        to,
        f"Open this link to confirm {to}:\n\n{link}\n\nIt works once, for {hours} hours.",
        format_html(
            '<p>Confirm {} by opening <a href="{}">this link</a>.</p><p>It works once, for {} '
            "hours.</p>",
            to,
            link,
            hours,
        ),
    )


def send_email_change_notice(*, old: str, new: str) -> None:
    _queue(
        "Your email address is being changed",
        old,
        f"Someone asked to change this account's email to {new}. It changes once the new "
        "address is confirmed. If this was not you, change your password now.",
        format_html(
            "<p>Someone asked to change this account's email to {}. It changes once the new "
            "address is confirmed.</p><p>If this was not you, change your password now.</p>",
            new,
        ),
    )


def send_password_reset(*, user: User, token: str) -> None:
    minutes = settings.USER_OTP_EXP_IN_SECONDS // 60
    if settings.PASSWORD_RESET_URL:
        link = settings.PASSWORD_RESET_URL.format(email=user.email, token=token)
        how = f"Open this link to choose a new password:\n\n{link}"
        html_how = format_html('<p><a href="{}">Choose a new password</a>.</p>', link)
    else:
        how = f"Your password reset code:\n\n{token}"
        html_how = format_html("<p>Your password reset code:</p><p><code>{}</code></p>", token)
    _queue(
        "Reset your password",
        user.email,
        f"{how}\n\nIt works once, for {minutes} minutes. If you did not ask, ignore this email.",
        format_html(
            "{}<p>It works once, for {} minutes. If you did not ask, ignore this email.</p>",
            html_how,
            minutes,
        ),
    )


def send_address_in_use_notice(*, to: str) -> None:
    """Someone asked to make `to` their login, but it is this account's: no link goes out,
    and the requester is answered as if the address were free (it is not an oracle)."""
    what = (
        "Someone asked to change their account's email to this address, which already "
        "belongs to your account. Nothing changes, and no link was sent."
    )
    ignore = "You need not do anything."
    _queue(
        "Someone tried to use your email address",
        to,
        f"{what} {ignore}",
        format_html("<p>{}</p><p>{}</p>", what, ignore),
    )


def send_erasure_notice(*, to: str, due_at: datetime) -> None:
    """An erasure was asked for: the owner learns of it while it can still be called off
    (someone else may have asked, with a stolen password or an admin's hand)."""
    when = f"{due_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    what = (
        f"This account has been deactivated and will be deleted for good at {when}, with "
        "everything stored about it."
    )
    help_text = "If you did not ask for this, contact us before then: it can still be cancelled."
    _queue(
        "Your account will be deleted",
        to,
        f"{what}\n\n{help_text}",
        format_html("<p>{}</p><p>{}</p>", what, help_text),
    )
