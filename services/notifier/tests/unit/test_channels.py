"""Contacts as people paste them become the Apprise URLs that notify them, or a reason why not; email
addresses are normalized; SMTP replies map to retry-or-not. No network: IP literals only."""

from __future__ import annotations

import email.policy
from email import message_from_bytes

import aiosmtplib
import pytest

from tierline_notifier.adapters import channels
from tierline_notifier.adapters.channels import Email, SendError, SmtpSettings

SLACK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/xxxxxxxxxxxxxxxxxxxxxxxx"
TEAMS = "https://acme.webhook.office.com/webhookb2/abcd-1234@efgh-5678/IncomingWebhook/0123abcd/ijkl-9012/V2abcdEF-1_2"
WORKFLOWS = (
    "https://prod-161.westeurope.logic.azure.com:443/workflows/abc123/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=XYZ"
)


@pytest.mark.parametrize(
    ("kind", "url", "apprise_url", "host"),
    [
        ("slack", SLACK, SLACK, None),  # Apprise parses Slack's own URL natively; its host is fixed
        ("teams", TEAMS, TEAMS, None),
        ("teams", WORKFLOWS, WORKFLOWS, ("prod-161.westeurope.logic.azure.com", True)),
        (
            "mattermost",
            "https://chat.example.com/hooks/abc123",
            "mmosts://chat.example.com/abc123",
            ("chat.example.com", True),
        ),
        (
            "mattermost",
            "https://chat.example.com:8443/hooks/abc123/",
            "mmosts://chat.example.com:8443/abc123",
            ("chat.example.com", True),
        ),
        (
            "mattermost",
            "http://10.0.0.5:8065/mm/hooks/k_9-x",
            "mmost://10.0.0.5:8065/mm/k_9-x",
            ("10.0.0.5", False),
        ),
        (
            "webhook",
            "https://hooks.example.com/in",
            "jsons://hooks.example.com/in",
            ("hooks.example.com", True),
        ),
        ("webhook", "http://[::1]:9000", "json://[::1]:9000/", ("::1", False)),
        # the webhook's own query is passed on ("-name"), not read as Apprise options
        (
            "webhook",
            "https://h.example.com/in?token=a%20b&method=x",
            "jsons://h.example.com/in?-token=a%20b&-method=x",
            ("h.example.com", True),
        ),
        ("apprise", "discord://1234/abcdef", "discord://1234/abcdef", None),
        (
            "apprise",
            " json://hooks.example.com:81/x ",
            "json://hooks.example.com:81/x",
            ("hooks.example.com", False),
        ),
    ],
)
def test_a_contact_becomes_the_apprise_url_that_notifies_it(
    kind: str, url: str, apprise_url: str, host: tuple[str, bool] | None
) -> None:
    assert channels.chat_url(kind, url) == apprise_url
    assert channels.chat_host(apprise_url) == host


@pytest.mark.parametrize(
    ("kind", "url", "reason"),
    [
        ("slack", "https://evil.example/services/T0/B0/x", "https://hooks.slack.com/services/"),
        ("slack", "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB", "not a Slack incoming webhook"),
        ("slack", "http://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/xxx", "https://hooks.slack.com"),
        ("teams", "https://example.com/webhook", "not a Teams incoming webhook or Workflows URL"),
        ("teams", "not a url", "must start with https://"),
        ("mattermost", "https://chat.example.com/api/v4/posts", "ends in /hooks/<token>"),
        ("mattermost", "ftp://chat.example.com/hooks/abc", "must start with https://"),
        ("mattermost", "https://user:pw@chat.example.com/hooks/abc", "user name or password"),
        ("mattermost", "https:///hooks/abc", "needs a host"),
        ("webhook", "https://hooks.example.com:99999/in", "invalid port"),
        ("webhook", "https://hooks.example.com/in#frag", "#fragment"),
        ("webhook", "hooks.example.com/in", "must start with https://"),
        ("apprise", "bogus://x/y", "Apprise cannot use this URL"),
        ("apprise", "mailto://user:secret@mail.example.com", "E-Mail URLs are not accepted"),  # SMTP anywhere
        ("apprise", "syslog://", "not accepted"),  # local services: nothing to guard
        ("pager", "https://x.example.com", "unknown contact type 'pager'"),
    ],
)
def test_a_malformed_or_unguardable_contact_is_refused_naming_the_problem(
    kind: str, url: str, reason: str
) -> None:
    with pytest.raises(ValueError) as refused:
        channels.chat_url(kind, url)
    assert reason in str(refused.value)
    assert "secret" not in str(refused.value)


def test_apprise_reasons_do_not_echo_the_token() -> None:
    with pytest.raises(ValueError) as refused:
        channels.chat_url("apprise", "bogus://host.example/SECRET-TOKEN")
    assert "SECRET-TOKEN" not in str(refused.value) and "bogus://host.example/" in str(refused.value)


async def test_vetting_a_contact_refuses_what_every_send_would_refuse() -> None:
    with pytest.raises(channels.ssrf.Refused, match=r"10\.0\.0\.5 is a non-public address; allow-list it"):
        await channels.vet_chat("mmosts://10.0.0.5:8065/abc", [])
    with pytest.raises(channels.ssrf.Refused, match="must use https"):
        await channels.vet_chat("json://93.184.216.34/in", [])
    assert await channels.vet_chat("mmost://10.0.0.5:8065/abc", ["10.0.0.0/8"]) is None
    assert await channels.vet_chat(SLACK, []) is None  # Slack's fixed host: nothing to resolve


async def test_a_contact_the_guard_refuses_is_a_permanent_failure_without_a_send() -> None:
    with pytest.raises(SendError, match=r"refused by the SSRF guard: 10\.0\.0\.5 is a non-public") as refused:
        await channels.send_chat("mmosts://10.0.0.5/abc", title="t", body="b", allow_hosts=[])
    assert refused.value.transient is False
    with pytest.raises(SendError, match="not accepted") as unusable:
        await channels.send_chat("mailto://u:p@mail.example.com", title="t", body="b", allow_hosts=[])
    assert unusable.value.transient is False


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Bob@EXAMPLE.COM", "Bob@example.com"),
        (" c@example.org", None),
    ],
)
def test_an_address_is_normalized(address: str, normalized: str | None) -> None:
    if normalized is None:
        with pytest.raises(ValueError):
            channels.check_address(address)
    else:
        assert channels.check_address(address) == normalized


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("alice", "An email address must have an @-sign."),
        ("alice@", "There must be something after the @-sign."),
        ("al ice@example.com", "invalid character"),
        ("alice@localhost", "The part after the @-sign is not valid"),
    ],
)
def test_a_malformed_address_says_why(address: str, reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        channels.check_address(address)
    assert reason in str(refused.value)


def test_the_message_carries_both_parts_and_the_headers() -> None:
    smtp = SmtpSettings(host="127.0.0.1", from_address="Tierline <t@example.com>")
    mail = Email(
        "a@example.com",
        "INC-1 assigned",
        "plain",
        "<p>html</p>",
        "<n-1@tierline>",
        {"X-Tierline-Incident": "INC-1"},
    )
    parsed = message_from_bytes(channels.build_message(smtp, mail).as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == "<n-1@tierline>" and parsed["Auto-Submitted"] == "auto-generated"
    assert (parsed["From"], parsed["To"], parsed["X-Tierline-Incident"]) == (
        "Tierline <t@example.com>",
        "a@example.com",
        "INC-1",
    )
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    text_only = channels.build_message(smtp, Email("a@example.com", "s", "plain", None, "<n-2@tierline>"))
    assert text_only.get_content_type() == "text/plain"


def test_a_header_with_a_line_break_is_refused() -> None:
    smtp = SmtpSettings(host="127.0.0.1")
    with pytest.raises(ValueError):
        channels.build_message(
            smtp, Email("a@example.com", "s", "t", None, "<n@t>", {"X-A": "v\r\nBcc: x@example.com"})
        )


@pytest.mark.parametrize(
    ("error", "transient", "text"),
    [
        (aiosmtplib.SMTPResponseException(451, "try later"), True, "451 try later"),
        (aiosmtplib.SMTPResponseException(554, "rejected"), False, "554 rejected"),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), False, "refused the login: 535"),
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@x")]),
            False,
            "550 no such user",
        ),
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(452, "mailbox full", "a@x")]),
            True,
            "452",
        ),
        (aiosmtplib.SMTPConnectTimeoutError("timed out"), True, "cannot reach"),
        (aiosmtplib.SMTPServerDisconnected("gone"), True, "gone"),
        (ConnectionRefusedError(111, "Connection refused"), True, "Connection refused"),
        (aiosmtplib.SMTPNotSupported("STARTTLS extension not supported"), False, "STARTTLS"),
    ],
)
async def test_smtp_errors_map_to_retry_or_not(
    monkeypatch: pytest.MonkeyPatch, error: Exception, transient: bool, text: str
) -> None:
    async def failing(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(channels.aiosmtplib, "send", failing)
    with pytest.raises(SendError) as failed:
        await channels.send_email(
            SmtpSettings(host="127.0.0.1"), Email("a@example.com", "s", "t", None, "<n@t>")
        )
    assert failed.value.transient is transient and text in str(failed.value)
