"""Development's email backend: each email is one log record, in the service's log format."""

import logging
from typing import Any

from django.core.mail.backends import console

logger = logging.getLogger(__name__)


class ConsoleEmailBackend(console.EmailBackend):
    """Django's console backend writes the raw MIME message to stdout, many lines of it
    (quoted-printable, so links come out broken across lines). Here it is a log record:
    the recipients, the subject and the plain-text body as written."""

    def write_message(self, message: Any) -> None:
        recipients = message.recipients()
        logger.info(
            "Email to %s: %s\n\n%s",
            ", ".join(recipients),
            message.subject,
            message.body,
            extra={"mail_to": recipients, "mail_subject": message.subject},
        )
