"""The channels a notification goes out on: email through an SMTP server (aiosmtplib), chat and
webhooks through Apprise (Slack, Teams, Mattermost, generic JSON, a vetted set of Apprise URLs).

Contact URLs are typed by people, so every chat send is first checked by the shared SSRF guard
against the host Apprise will connect to. Apprise is used with no configuration file, no plugin
paths and in-memory storage: it sends to the URL given and nowhere else. Its plugins post with
``requests`` in a thread, so the guard checks the name as it resolves just before the send; unlike
the gateway's aiohttp client, the connection is not pinned to the checked addresses (a DNS answer
changing in between, or a redirect, is not seen), which is why only services whose target is
known are accepted (``SERVICES``).
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import aiosmtplib
import apprise
from apprise.plugins.apprise_api import NotifyAppriseAPI
from apprise.plugins.custom_form import NotifyForm
from apprise.plugins.custom_json import NotifyJSON
from apprise.plugins.custom_xml import NotifyXML
from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.google_chat import NotifyGoogleChat
from apprise.plugins.gotify import NotifyGotify
from apprise.plugins.mattermost import NotifyMattermost
from apprise.plugins.msteams import NotifyMSTeams
from apprise.plugins.nextcloud import NotifyNextcloud
from apprise.plugins.opsgenie import NotifyOpsgenie
from apprise.plugins.pagerduty import NotifyPagerDuty
from apprise.plugins.pushover import NotifyPushover
from apprise.plugins.rocketchat import NotifyRocketChat
from apprise.plugins.slack import NotifySlack
from apprise.plugins.telegram import NotifyTelegram
from apprise.plugins.webexteams import NotifyWebexTeams
from apprise.plugins.workflows import NotifyWorkflows

from tierline_shared import ssrf

__all__ = [
    "CONTACT_TYPES",
    "SSRF_HINT",
    "Email",
    "SendError",
    "SmtpSettings",
    "chat_host",
    "chat_url",
    "check_address",
    "send_chat",
    "send_email",
    "vet_chat",
]

# An Apprise plugin instance (apprise's bundled stubs lack most of its attributes).
Plugin = Any

CONTACT_TYPES = ("slack", "mattermost", "teams", "webhook", "apprise")
SSRF_HINT = (
    "allow-list it (delivery.allow_hosts in notifications.yaml, or TIERLINE_NOTIFY_ALLOW_HOSTS) to call it"
)

# Services that only ever post to their vendor's own public host: nothing to guard.
FIXED_HOST = (
    NotifySlack,
    NotifyMSTeams,  # {team}.webhook.office.com
    NotifyDiscord,
    NotifyTelegram,
    NotifyPagerDuty,
    NotifyOpsgenie,
    NotifyPushover,
    NotifyGoogleChat,
    NotifyWebexTeams,
)
# Services that post to the host named in their URL (self-hosted): guarded.
OWN_HOST = (
    NotifyMattermost,
    NotifyJSON,
    NotifyXML,
    NotifyForm,
    NotifyRocketChat,
    NotifyGotify,
    NotifyNextcloud,
    NotifyAppriseAPI,
    NotifyWorkflows,
)
SERVICES = FIXED_HOST + OWN_HOST
_MATTERMOST_HOOK = re.compile(r"^(?P<prefix>(?:/[^/]+)*)/hooks/(?P<token>[A-Za-z0-9_-]+)/?$")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool | None = None  # None: upgrade when the server offers it
    use_tls: bool = False  # implicit TLS (port 465)
    from_address: str = "Tierline <tierline@localhost>"
    timeout: float = 10.0


class SendError(Exception):
    """A message was not sent; ``transient`` when retrying may help (a timeout, a 4xx, a 500)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str | None
    message_id: str  # "<uuid@tierline>": a resend of one notification folds into the same message
    headers: Mapping[str, str] = field(default_factory=dict)


# --- email --------------------------------------------------------------------------------------


def check_address(address: str) -> str:
    """The normalized address; ValueError with email-validator's reason when it is malformed."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def build_message(smtp: SmtpSettings, email: Email) -> EmailMessage:
    """Plain text, plus an HTML alternative when there is one; marked auto-generated (RFC 3834)."""
    message = EmailMessage()
    message["From"] = smtp.from_address
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = email.message_id
    message["Auto-Submitted"] = "auto-generated"  # auto-replies (vacation, bounces) must not answer
    message["X-Auto-Response-Suppress"] = "All"  # the same, for Exchange
    for name, value in email.headers.items():
        del message[name]
        message[name] = value  # the policy refuses line breaks: no header injection
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    return message


async def send_email(smtp: SmtpSettings, email: Email) -> None:
    """Hand the message to the SMTP server; SendError says whether a retry may help."""
    message = build_message(smtp, email)
    try:
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            start_tls=smtp.starttls,
            use_tls=smtp.use_tls,
            timeout=smtp.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        reasons = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        raise SendError(
            f"the SMTP server refused the recipient: {reasons}", transient=_transient(*codes)
        ) from None
    except aiosmtplib.SMTPResponseException as exc:
        what = "refused the login" if isinstance(exc, aiosmtplib.SMTPAuthenticationError) else "answered"
        raise SendError(
            f"the SMTP server {what}: {exc.code} {exc.message}", transient=_transient(exc.code)
        ) from None
    except aiosmtplib.SMTPNotSupported as exc:
        raise SendError(f"the SMTP server cannot do what is configured: {exc}", transient=False) from None
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
        # connection refused or dropped, a timeout, a TLS failure: the server may be back later
        raise SendError(
            f"cannot reach the SMTP server {smtp.host}:{smtp.port}: {_text(exc)}", transient=True
        ) from None


def _transient(*codes: int) -> bool:
    """4xx replies are temporary (RFC 5321); 5xx are permanent; anything else is worth a retry."""
    return any(not 500 <= code < 600 for code in codes)


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# --- chat ---------------------------------------------------------------------------------------


def _asset() -> apprise.AppriseAsset:
    # No plugin paths (no custom code is loaded), no storage path (nothing written to disk).
    return apprise.AppriseAsset()


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _own_logger() -> logging.Logger:
    """A logger for one plugin instance, so concurrent sends do not read each other's errors."""
    logger = logging.Logger("apprise.tierline", logging.WARNING)  # not registered: dropped with the plugin
    logger.propagate = False
    return logger


def _plugin(apprise_url: str) -> tuple[Plugin | None, list[str]]:
    """The Apprise plugin for a URL, and the reasons Apprise gave when it cannot make one."""
    captured = _Captured()
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.addHandler(captured)  # parse errors are logged globally; this call's are kept
    try:
        plugin: Plugin = apprise.Apprise.instantiate(apprise_url, asset=_asset())
    finally:
        apprise_logger.removeHandler(captured)
    if plugin is None:
        return None, captured.lines
    plugin.logger = _own_logger()
    return plugin, captured.lines


def _service(apprise_url: str) -> Plugin:
    plugin, reasons = _plugin(apprise_url)
    if plugin is None:
        detail = f": {reasons[-1]}" if reasons else ""
        raise ValueError(f"Apprise cannot use this URL (unknown service or missing parts){_redact(detail)}")
    if not isinstance(plugin, SERVICES):
        raise ValueError(
            f"{plugin.service_name} URLs are not accepted: the notifier cannot check where they connect; "
            f"accepted: {', '.join(sorted({s.service_name for s in SERVICES}))}"
        )
    return plugin


def _redact(detail: str) -> str:
    """Apprise's messages may quote the URL, whose path holds the secret token: keep only the start."""
    return re.sub(r"(\w+://[^/\s]+)/\S*", r"\1/…", detail)


def _http_url(url: str, *, what: str) -> tuple[bool, str, str, str]:
    """(secure, netloc, path, query) of an http(s) URL, ValueError naming what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"a {what} URL must start with https:// (or http:// for an allow-listed host)")
    if not parts.hostname:
        raise ValueError(f"a {what} URL needs a host")
    if parts.fragment:
        raise ValueError(f"a {what} URL cannot have a #fragment")
    try:
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError:
        raise ValueError(f"a {what} URL has an invalid port") from None
    return parts.scheme == "https", parts.netloc, parts.path, parts.query


def chat_url(contact_type: str, url: str) -> str:
    """The Apprise URL that notifies a contact given as people paste it; ValueError naming the problem."""
    if contact_type == "slack":
        if not re.match(r"^https://hooks\.slack\.com/services/", url.strip(), re.I):
            raise ValueError("a Slack contact is an incoming webhook URL: https://hooks.slack.com/services/…")
        return _native(
            url.strip(), NotifySlack, "Slack incoming webhook URL (https://hooks.slack.com/services/T…/B…/…)"
        )
    if contact_type == "teams":
        _http_url(url, what="Teams")
        return _native(
            url.strip(), (NotifyMSTeams, NotifyWorkflows), "Teams incoming webhook or Workflows URL"
        )
    if contact_type == "mattermost":
        secure, netloc, path, query = _http_url(url, what="Mattermost")
        hook = _MATTERMOST_HOOK.match(path)
        if hook is None:
            raise ValueError("a Mattermost incoming webhook URL ends in /hooks/<token>")
        if "@" in netloc:
            raise ValueError("a Mattermost webhook URL cannot carry a user name or password")
        apprise_url = f"{'mmosts' if secure else 'mmost'}://{netloc}{hook['prefix']}/{hook['token']}"
        return _checked(apprise_url, NotifyMattermost)
    if contact_type == "webhook":
        secure, netloc, path, query = _http_url(url, what="webhook")
        # Apprise reads a plain query as its own options; "-name" passes name on to the webhook.
        params = "&".join(f"-{quote(k, safe='')}={quote(v, safe='')}" for k, v in parse_qsl(query))
        apprise_url = f"{'jsons' if secure else 'json'}://{netloc}{path or '/'}" + (
            f"?{params}" if params else ""
        )
        return _checked(apprise_url, NotifyJSON)
    if contact_type == "apprise":
        _service(url.strip())
        return url.strip()
    raise ValueError(f"unknown contact type {contact_type!r}; one of {', '.join(CONTACT_TYPES)}")


def _native(url: str, kinds: type | tuple[type, ...], expected: str) -> str:
    """A service's own https URL, which Apprise recognises natively, as long as it is that service's."""
    plugin, _ = _plugin(url)
    if plugin is None or not isinstance(plugin, kinds):
        raise ValueError(f"not a {expected}")
    return url


def _checked(apprise_url: str, kind: type) -> str:
    plugin, reasons = _plugin(apprise_url)
    if plugin is None or not isinstance(plugin, kind):
        raise ValueError(f"Apprise cannot use this URL{_redact(': ' + reasons[-1]) if reasons else ''}")
    return apprise_url


def chat_host(apprise_url: str) -> tuple[str, bool] | None:
    """The host Apprise will connect to and whether over TLS; None for a service's fixed public host."""
    return _target(_service(apprise_url))


def _target(plugin: Plugin) -> tuple[str, bool] | None:
    if isinstance(plugin, FIXED_HOST):
        return None
    secure = bool(plugin.secure) or isinstance(plugin, NotifyWorkflows)  # Workflows is https only
    return str(plugin.host).strip("[]"), secure  # an IPv6 literal without its brackets


def _guarded_url(target: tuple[str, bool]) -> str:
    host, secure = target
    return f"{'https' if secure else 'http'}://{f'[{host}]' if ':' in host else host}/"


async def vet_chat(apprise_url: str, allow_hosts: Sequence[str]) -> str | None:
    """The SSRF guard's verdict as a contact is registered: ssrf.Refused for what every send would
    refuse, a warning when the host does not resolve yet (ssrf.vet); ValueError for a bad URL."""
    target = chat_host(apprise_url)
    if target is None:
        return None
    return await ssrf.vet(_guarded_url(target), allow_hosts, hint=SSRF_HINT)


async def send_chat(apprise_url: str, *, title: str, body: str, allow_hosts: Sequence[str]) -> None:
    """Post to a chat or webhook contact; SendError(transient=False) when the SSRF guard refuses it."""
    try:
        plugin = _service(apprise_url)
    except ValueError as exc:
        raise SendError(str(exc), transient=False) from None
    target = _target(plugin)
    if target is not None:
        try:
            await ssrf.check(_guarded_url(target), allow_hosts, hint=SSRF_HINT)
        except ssrf.Refused as exc:
            raise SendError(f"refused by the SSRF guard: {exc}", transient=False) from None
        except ssrf.Unresolved as exc:
            raise SendError(str(exc), transient=True) from None
    captured = _Captured()
    plugin.logger.addHandler(captured)
    sender = apprise.Apprise(asset=_asset())
    sender.add(plugin)
    try:
        sent = await sender.async_notify(title=title, body=body)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug costs this attempt, not the worker
        raise SendError(f"{plugin.service_name}: {_text(exc)}", transient=True) from None
    finally:
        plugin.logger.removeHandler(captured)
    if not sent:
        reason = "; ".join(captured.lines) or "the service did not accept the message"
        raise SendError(f"{plugin.service_name}: {reason}", transient=True)
