"""Mail for the email channel's tests: a person's message to the service desk, headers as keywords."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

SUPPORT = "support@tierline.localhost"
VPN = "vpn@tierline.localhost"
ALICE = "alice@example.com"


def mail(
    subject: str = "Printer on fire", body: str = "Third floor, the big one.", **headers: str
) -> EmailMessage:
    """Alice's mail to the desk; ``In_Reply_To="…"`` sets In-Reply-To (underscores become dashes)."""
    message = EmailMessage()
    message["From"] = headers.pop("From", f"Alice <{ALICE}>")
    message["To"] = headers.pop("To", SUPPORT)
    message["Subject"] = subject
    message["Message-ID"] = headers.pop("Message_ID", make_msgid(domain="example.com"))
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def wire(message: EmailMessage) -> bytes:
    """The message as it travels (CRLF line ends), e.g. for IMAP APPEND."""
    return message.as_bytes().replace(b"\n", b"\r\n")
