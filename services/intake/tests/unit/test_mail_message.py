"""Raw mail → InboundMail: bodies, charsets, threading keys, loop detection, attachments, hostile input."""

from __future__ import annotations

import hashlib
import uuid
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierline_intake.entrypoints.schemas import IncidentIn
from tierline_intake.mail.message import Attachment, InboundMail, Rejected, parse
from tierline_intake.mail.text import DESCRIPTION_MAX, TITLE_MAX

NOTIFICATION = uuid.UUID("0b7c3f4e-8d2a-4c1b-9e6f-123456789abc")
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
PE = b"MZ" + b"\x90" * 0x3A + (0x40).to_bytes(4, "little") + b"PE\x00\x00" + b"\x00" * 64


def mail(body: str = "The VPN drops every 5 minutes.", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Alice Example <Alice@Example.COM>")
    message["To"] = headers.pop("To", "Support <Support@Tierline.localhost>")
    message["Subject"] = headers.pop("Subject", "VPN keeps dropping")
    message["Message-ID"] = headers.pop("Message_ID", "<m1@client.example>")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hand_written(*header_lines: str, subject: str = "test", body: bytes = b"Hello.\r\n") -> bytes:
    head = "\r\n".join(("From: alice@example.com", f"Subject: {subject}", *header_lines))
    return head.encode("ascii") + b"\r\n\r\n" + body


# -- the usual mails ----------------------------------------------------------------------------------------


def test_plain_mail_is_read_field_by_field() -> None:
    message = mail(Cc="Bob <BOB@example.com>, support@tierline.localhost")

    parsed = parse(message.as_bytes())

    assert parsed == InboundMail(
        message_id="m1@client.example",
        from_address="alice@example.com",
        from_name="Alice Example",
        to=("support@tierline.localhost", "bob@example.com"),
        subject="VPN keeps dropping",
        text="The VPN drops every 5 minutes.",
        in_reply_to=(),
        references=(),
        reference=None,
        auto=None,
        attachments=(),
    )


def test_hand_written_mail_with_bare_lf_and_quoted_reply_tail() -> None:
    raw = (
        b"From: carol@example.org\nTo: support@tierline.localhost\nSubject:   Printer\n\t on fire  \n"
        b"Message-ID: <x1@example.org>\n\nIt burns.\n\n> On Monday you wrote:\n> fixed?\n"
    )

    parsed = parse(raw)

    assert parsed.subject == "Printer on fire"
    assert parsed.text == "It burns.\n\n> On Monday you wrote:\n> fixed?"
    assert parsed.from_name is None


def test_html_only_mail_becomes_text_without_script_or_style() -> None:
    message = mail()
    message.set_content(
        "<html><head><style>p { color: red }</style><script>steal('head')</script></head>"
        "<body><p>Outlook <b>crashes</b> on start.</p><script>steal('body')</script>"
        "<ul><li>since Monday</li></ul></body></html>",
        subtype="html",
    )

    parsed = parse(message.as_bytes())

    assert "Outlook crashes on start." in parsed.text
    assert "since Monday" in parsed.text
    assert "steal" not in parsed.text
    assert "color" not in parsed.text
    assert "<" not in parsed.text


def test_multipart_alternative_prefers_the_plain_part() -> None:
    message = mail("plain words")
    message.add_alternative("<p>html words</p>", subtype="html")

    parsed = parse(message.as_bytes())

    assert parsed.text == "plain words"
    assert parsed.attachments == ()


def test_multipart_mixed_keeps_the_pdf_and_refuses_the_exe() -> None:
    message = mail("see attached")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    message.add_attachment(PE, maintype="application", subtype="octet-stream", filename="setup.exe")

    parsed = parse(message.as_bytes())

    assert parsed.text == "see attached"
    assert parsed.attachments == (
        Attachment("report.pdf", "application/pdf", len(PDF), PDF, None, sha256(PDF)),
        Attachment("setup.exe", "application/octet-stream", len(PE), b"", "executable type .exe", sha256(PE)),
    )


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "refused"),
    [
        ("invoice.pdf.exe", "application/pdf", b"x", "executable type .exe"),
        ("RUN.BAT", "text/plain", b"x", "executable type .bat"),
        ("tool.jar", "application/zip", b"PK", "executable type .jar"),
        ("script.ps1", "text/plain", b"x", "executable type .ps1"),
        ("payload.js", "text/plain", b"x", "executable type .js"),
        ("run.exe. ", "application/octet-stream", b"x", "executable type .exe"),
        ("harmless.bin", "application/x-msdownload", b"x", "executable type application/x-msdownload"),
        ("harmless.bin", "application/x-sh", b"x", "executable type application/x-sh"),
        ("notes.pdf", "application/pdf", PE, "executable content"),
        ("notes.pdf", "application/pdf", b"\x7fELF\x02\x01", "executable content"),
        ("MZ-report.txt", "text/plain", b"MZ is our team's name", None),
        ("archive.zip", "application/zip", b"PK\x03\x04", None),
        *(
            (f"file{ext}", "application/octet-stream", b"x", f"executable type {ext}")
            for ext in (
                ".iso",
                ".img",
                ".vhd",
                ".vhdx",
                ".one",
                ".lnk",
                ".hta",
                ".cpl",
                ".msc",
                ".reg",
                ".wsf",
            )
        ),
        ("disk.bin", "application/x-iso9660-image", b"x", "executable type application/x-iso9660-image"),
        ("notes.one.pdf", "application/onenote", b"x", "executable type application/onenote"),
        *(
            ("tool.pdf", "application/pdf", bytes.fromhex(magic) + b"\x00" * 28, "executable content")
            for magic in ("feedface", "cefaedfe", "feedfacf", "cffaedfe", "cafebabe", "bebafeca")
        ),
        ("fix.txt", "text/plain", b"#!/bin/sh\nrm -rf ~\n", "executable content"),
        ("notes.txt", "text/plain", b"# heading #!\n", None),
        ("photo.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 feedface", None),
    ],
)
def test_executable_types_are_refused_by_extension_type_or_content(
    filename: str, content_type: str, data: bytes, refused: str | None
) -> None:
    message = mail()
    maintype, subtype = content_type.split("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)

    (attachment,) = parse(message.as_bytes()).attachments

    assert attachment.refused == refused
    assert attachment.size == len(data)
    assert attachment.data == (b"" if refused else data)


def test_a_content_type_name_cannot_hide_behind_a_harmless_disposition_filename() -> None:
    raw = hand_written(
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        body=(
            b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
            b'--b\r\nContent-Type: application/octet-stream; name="evil.scr"\r\n'
            b'Content-Disposition: attachment; filename="photo.jpg"\r\n\r\nxx\r\n--b--\r\n'
        ),
    )

    (attachment,) = parse(raw).attachments

    assert attachment.filename == "photo.jpg"
    assert attachment.refused == "executable type .scr"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Users\\\\bob\\\\notes.txt"', "notes.txt"),
        ("attachment; filename*=utf-8''r%C3%A9sum%C3%A9%20final.pdf", "résumé final.pdf"),
        ('attachment; filename="=?utf-8?q?Gr=C3=BC=C3=9Fe.pdf?="', "Grüße.pdf"),
        ('attachment; filename="invoice\u202efdp.exe"', "invoicefdp.exe"),
        ('attachment; filename="a\tb?c.pdf"', "a_b_c.pdf"),
        ('attachment; filename="..."', "attachment.pdf"),
        ("attachment", "attachment.pdf"),
    ],
)
def test_attachment_filenames_are_decoded_and_made_safe(disposition: str, expected: str) -> None:
    raw = hand_written(
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        body=(
            b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf\r\n"
            b"Content-Disposition: " + disposition.encode("utf-8") + b"\r\n\r\n%PDF\r\n--b--\r\n"
        ),
    )

    (attachment,) = parse(raw).attachments

    assert attachment.filename == expected


def test_a_long_filename_is_cut_to_255_keeping_its_extension() -> None:
    message = mail()
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="x" * 400 + ".pdf")

    (attachment,) = parse(message.as_bytes()).attachments

    assert len(attachment.filename) == 255
    assert attachment.filename.endswith("x.pdf")


def test_inline_image_with_a_name_is_an_attachment_one_without_is_part_of_the_body() -> None:
    message = mail("body")
    message.add_alternative("<p>body <img src='cid:logo'></p>", subtype="html")
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    html.add_related(b"\x89PNG logo", maintype="image", subtype="png", cid="<logo>")
    message.add_attachment(
        b"\x89PNG shot", maintype="image", subtype="png", filename="shot.png", disposition="inline"
    )

    parsed = parse(message.as_bytes())

    assert [(a.filename, a.data) for a in parsed.attachments] == [("shot.png", b"\x89PNG shot")]


def test_a_forwarded_message_is_kept_whole_as_one_eml_attachment() -> None:
    inner = mail("inner body", Subject="Original problem")
    message = mail("FYI, see below")
    message.add_attachment(inner)

    parsed = parse(message.as_bytes())

    (attachment,) = parsed.attachments
    assert attachment.filename == "forwarded.eml"
    assert attachment.content_type == "message/rfc822"
    assert b"Subject: Original problem" in attachment.data
    assert parsed.text == "FYI, see below"


# -- charsets ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("iso-8859-1", "Grüße aus Köln, café"),
        ("windows-1252", "“Smart quotes” \u2013 5 € please"),
        ("koi8-r", "Принтер не печатает"),
        ("iso-2022-jp", "プリンターが動きません"),
        ("shift_jis", "日本語のテキスト"),
    ],
)
@pytest.mark.parametrize("transfer", ["8bit", "base64"])
def test_bodies_are_decoded_by_their_declared_charset(charset: str, text: str, transfer: str) -> None:
    message = mail()
    message.set_content(text.encode(charset), maintype="text", subtype="plain", cte=transfer)
    message.set_param("charset", charset)

    assert parse(message.as_bytes()).text == text


def test_html_only_body_in_shift_jis_is_decoded_before_conversion() -> None:
    body = "<p>日本語のテキスト</p>".encode("shift_jis")
    raw = hand_written(
        "Content-Type: text/html; charset=shift_jis", "Content-Transfer-Encoding: 8bit", body=body
    )

    assert parse(raw).text == "日本語のテキスト"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/plain; charset=x-no-such-charset", "café".encode("cp1252"), "café"),
        ("text/plain; charset=rot13", "café".encode("cp1252"), "café"),
        ("text/plain", "naïve \u2013 utf8".encode(), "naïve \u2013 utf8"),
        ("text/plain; charset=us-ascii", "“label lies”".encode("cp1252"), "“label lies”"),
        ("text/plain; charset=utf-8", b"ok \xff still ok", "ok \ufffd still ok"),
    ],
)
def test_unknown_missing_or_lying_charsets_fall_back_without_failing(
    content_type: str, body: bytes, expected: str
) -> None:
    raw = hand_written(f"Content-Type: {content_type}", "Content-Transfer-Encoding: 8bit", body=body)

    assert parse(raw).text == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?B?RHJ1Y2tlciBkZWZla3Qg4oCTIGJpdHRlIGhlbGZlbg==?=", "Drucker defekt \u2013 bitte helfen"),
        ("=?iso-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=", "Grüße aus Köln"),
        ("=?koi8-r?B?8NLJztTF0iDOxSDQxd7B1MHF1A==?=", "Принтер не печатает"),
        ("=?iso-2022-jp?B?GyRCJVclaiVzJT8hPCQsRjAkLSReJDskcxsoQg==?=", "プリンターが動きません"),
        ("Re: =?utf-8?q?caf=C3=A9?=\r\n =?utf-8?q?_au_lait?=", "Re: café au lait"),
    ],
)
def test_rfc2047_subjects_are_decoded(header: str, expected: str) -> None:
    assert parse(hand_written(subject=header)).subject == expected


def test_raw_utf8_in_headers_is_read_as_utf8_not_replacement_characters() -> None:
    raw = "From: Jörg Müller <jorg@example.de>\r\nSubject: Störung im Büro\r\n\r\nx".encode()

    parsed = parse(raw)

    assert parsed.subject == "Störung im Büro"
    assert parsed.from_name == "Jörg Müller"


def test_control_characters_never_reach_subject_or_text() -> None:
    raw = hand_written(subject="bell\x07 and \x1b[31mred", body=b"nul\x00here\r\ncr\rlf\r\n\x1b[0m")

    parsed = parse(raw)

    assert parsed.subject == "bell and [31mred"
    assert parsed.text == "nulhere\ncr\nlf\n[0m"


def test_subject_and_text_are_cut_to_intake_limits() -> None:
    parsed = parse(mail("word " * 10_000, Subject="long " * 300).as_bytes())

    assert len(parsed.subject) == TITLE_MAX
    assert parsed.subject.endswith("…")
    assert len(parsed.text) == DESCRIPTION_MAX
    assert parsed.text.endswith("…")


def test_a_huge_html_body_is_cut_too() -> None:
    message = mail()
    message.set_content("<p>word</p>" * 60_000, subtype="html")

    text = parse(message.as_bytes()).text

    assert len(text) == DESCRIPTION_MAX
    assert text.startswith("word\n\nword")


def test_limits_are_the_ones_the_incident_api_enforces() -> None:
    fields = IncidentIn.model_fields
    assert any(getattr(m, "max_length", None) == TITLE_MAX for m in fields["title"].metadata)
    assert any(getattr(m, "max_length", None) == DESCRIPTION_MAX for m in fields["description"].metadata)


# -- threading keys ------------------------------------------------------------------------------------------


def test_a_reply_names_the_notifications_it_answers_in_order() -> None:
    other = uuid.UUID("11111111-2222-4333-8444-555555555555")
    message = mail(
        In_Reply_To=f"<{NOTIFICATION}@tierline>",
        References=f"<first@client.example> <{other}@TIERLINE> <not-a-uuid@tierline> "
        f"<{NOTIFICATION}@tierline> <{uuid.uuid4()}@elsewhere.example>",
    )

    parsed = parse(message.as_bytes())

    assert parsed.in_reply_to == (f"{NOTIFICATION}@tierline",)
    assert parsed.references[0] == "first@client.example"
    assert len(parsed.references) == 5
    assert parsed.notification_ids() == (NOTIFICATION, other)


@pytest.mark.parametrize(
    ("subject", "reference"),
    [
        ("Re: [TL-1A2B3C4D] VPN down", "TL-1A2B3C4D"),
        ("AW: AW: [tl-deadbeef] Drucker", "TL-DEADBEEF"),
        ("Re: VPN down", None),
        ("Re: [TL-1A2B] short", None),
        ("Re: [TL-1A2B3C4D5] long", None),
        ("Re: TL-1A2B3C4D without brackets", None),
    ],
)
def test_subject_reference(subject: str, reference: str | None) -> None:
    assert parse(mail(Subject=subject).as_bytes()).reference == reference


def test_reference_found_beyond_the_title_cut() -> None:
    parsed = parse(mail(Subject="x" * 300 + " [TL-0000ABCD]").as_bytes())

    assert parsed.reference == "TL-0000ABCD"


# -- loops and junk ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "auto"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto-submitted: auto-replied"),
        ({"Auto-Submitted": "auto-generated; owner-email=x@y.z"}, "auto-submitted: auto-generated"),
        ({"Auto-Submitted": "No"}, None),
        ({"Precedence": "bulk"}, "precedence: bulk"),
        ({"Precedence": "Junk"}, "precedence: junk"),
        ({"Precedence": "list"}, "precedence: list"),
        ({"Precedence": "list", "List-Id": "<ops.lists.example>"}, "mailing list"),
        ({"Precedence": "list", "List-Unsubscribe": "<mailto:u@x.y>"}, "mailing list"),
        ({"List-Id": "<ops.lists.example>"}, None),
        ({"Precedence": "first-class"}, None),
        ({"X-Autoreply": "yes"}, "auto-reply: X-Autoreply"),
        ({"X-Autorespond": "Out of office"}, "auto-reply: X-Autorespond"),
        ({"X-Autoreply": "no"}, None),
        ({"X-Auto-Response-Suppress": "All"}, "auto-reply: X-Auto-Response-Suppress"),
        ({"X-Auto-Response-Suppress": "DR, OOF"}, "auto-reply: X-Auto-Response-Suppress"),
        ({"X-Auto-Response-Suppress": "DR, RN"}, None),
        ({"From": "MAILER-DAEMON@mx.example.com"}, "bounce: sent by mailer-daemon"),
        ({"From": "Mail System <postmaster@example.com>"}, "bounce: sent by postmaster"),
        ({"From": "no-reply@shop.example"}, None),
        ({"From": "noreply@shop.example"}, None),
        ({"Return-Path": "<>"}, "bounce: null sender"),
        ({"Return-Path": "<alice@example.com>"}, None),
    ],
)
def test_automatic_mail_is_recognised_and_people_are_not(headers: dict[str, str], auto: str | None) -> None:
    message = mail(From=headers.pop("From", "alice@example.com"))
    for name, value in headers.items():
        message[name] = value

    assert parse(message.as_bytes()).auto == auto


DSN = b"""From: Mail Delivery System <mail@relay.example.net>
To: support@tierline.localhost
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn1@relay.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

--dsn
Content-Type: text/plain; charset=us-ascii

This is the mail system. Your message could not be delivered.

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net

Final-Recipient: rfc822; gone@example.com
Action: failed
Status: 5.1.1

--dsn
Content-Type: message/rfc822

From: support@tierline.localhost
To: gone@example.com
Subject: [TL-1A2B3C4D] We have your ticket

We have your ticket.

--dsn--
"""


def test_a_delivery_status_report_is_automatic() -> None:
    parsed = parse(DSN)

    assert parsed.auto == "report: delivery-status"
    assert parsed.text == "This is the mail system. Your message could not be delivered."
    assert parsed.reference is None  # the quoted original's reference is not this mail's


def test_a_read_receipt_is_automatic() -> None:
    raw = DSN.replace(b"report-type=delivery-status", b"report-type=disposition-notification")

    assert parse(raw).auto == "report: disposition-notification"


# -- refused mail --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "from_header",
    [
        None,
        "",
        "<>",
        "undisclosed-recipients:;",
        "not an address",
        "Bob <bob>",
        "a@",
        "@example.com",
        "al\x00ice@example.com",
    ],
)
def test_mail_without_a_usable_from_is_rejected(from_header: str | None) -> None:
    head = [] if from_header is None else [f"From: {from_header}"]
    raw = "\r\n".join([*head, "Subject: who am I", "", "body"]).encode()

    with pytest.raises(Rejected) as caught:
        parse(raw)

    assert caught.value.reason == "missing From"


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00" * 64, bytes(range(256)) * 8, b"\xff\xfe\r\n\r\n\xff", b"\r\n\r\nFrom: a@b.c\r\n"],
)
def test_garbage_bytes_are_rejected(raw: bytes) -> None:
    with pytest.raises(Rejected):
        parse(raw)


def test_too_many_header_fields_are_rejected_naming_the_limit() -> None:
    raw = hand_written(*(f"X-Spam-{i}: {i}" for i in range(600)))

    with pytest.raises(Rejected, match="limit of 500"):
        parse(raw)
    assert parse(raw, max_headers=700).from_address == "alice@example.com"


def test_a_header_section_over_the_byte_limit_is_rejected_naming_the_limit() -> None:
    raw = hand_written("X-Big: " + "a" * 70_000)

    with pytest.raises(Rejected, match="limit of 65536 bytes"):
        parse(raw)
    with pytest.raises(Rejected, match="limit of 65536 bytes"):
        parse(b"From: a@b.c\r\nX-Big: " + b"a" * 100_000)  # no header/body separator at all


def test_a_big_body_is_not_a_big_header() -> None:
    assert parse(hand_written(body=b"line\r\n" * 50_000)).text.startswith("line\nline")


@pytest.mark.parametrize(
    "content_type",
    ["multipart/mixed", 'multipart/mixed; boundary="never-used"'],
)
def test_multipart_without_a_usable_boundary_is_malformed(content_type: str) -> None:
    raw = hand_written("MIME-Version: 1.0", f"Content-Type: {content_type}", body=b"just text\r\n")

    with pytest.raises(Rejected, match=r"^malformed MIME"):
        parse(raw)


def test_parts_nested_too_deep_are_malformed() -> None:
    body = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1) for i in range(30)
    )
    raw = hand_written("MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b0"', body=body)

    with pytest.raises(Rejected, match="nested deeper than 20"):
        parse(raw)


def test_minor_defects_are_lived_with() -> None:
    raw = hand_written(
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        body=(
            b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"aGVsbG8gd29ybGQ\r\n"  # "hello world", padding missing
            b"--b\r\nContent-Type: application/pdf\r\n"
            b"Content-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF"
        ),  # and no closing boundary
    )

    parsed = parse(raw)

    assert parsed.text == "hello world"
    assert [a.filename for a in parsed.attachments] == ["a.pdf"]


# -- Message-ID ----------------------------------------------------------------------------------------------


def test_a_mail_without_message_id_gets_a_digest_so_a_redelivery_is_still_a_duplicate() -> None:
    raw = hand_written("To: support@tierline.localhost")

    first, again = parse(raw), parse(raw)

    assert first.message_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert again.message_id == first.message_id
    assert parse(raw + b"other\r\n").message_id != first.message_id


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("<abc@host.example>", "abc@host.example"),
        ("   <abc@host.example>  (comment)", "abc@host.example"),
        ("abc@host.example", "abc@host.example"),
        ("<>", None),
        ("not an id at all", None),
    ],
)
def test_message_id_is_taken_without_brackets_or_falls_back_to_the_digest(
    header: str, expected: str | None
) -> None:
    raw = hand_written(f"Message-ID: {header}")

    assert parse(raw).message_id == (expected or "sha256:" + hashlib.sha256(raw).hexdigest())


# -- never anything but Rejected -----------------------------------------------------------------------------


def _assert_storable(parsed: InboundMail) -> None:
    """What the database will be given: UTF-8 encodable, no NUL, within intake's limits."""
    for value in (parsed.subject, parsed.text, parsed.message_id, parsed.from_address, *parsed.to):
        value.encode("utf-8")
        assert "\x00" not in value
    assert len(parsed.subject) <= TITLE_MAX
    assert len(parsed.text) <= DESCRIPTION_MAX
    for attachment in parsed.attachments:
        attachment.filename.encode("utf-8")
        assert 0 < len(attachment.filename) <= 255
        assert "/" not in attachment.filename and "\\" not in attachment.filename


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_parse_or_are_rejected(raw: bytes) -> None:
    try:
        parsed = parse(raw)
    except Rejected as exc:
        assert exc.reason
        return
    _assert_storable(parsed)


def _seeds() -> list[bytes]:
    rich = mail("body é €", Subject="Grüße [TL-1A2B3C4D]", In_Reply_To=f"<{NOTIFICATION}@tierline>")
    rich.add_alternative("<p>body</p><script>x()</script>", subtype="html")
    rich.add_attachment(PDF, maintype="application", subtype="pdf", filename="résumé.pdf")
    rich.add_attachment(PE, maintype="application", subtype="octet-stream", filename="setup.exe")
    rich.add_attachment(mail("inner"))
    return [
        rich.as_bytes(),
        DSN,
        hand_written("Content-Type: text/plain; charset=koi8-r", body="Привет".encode("koi8-r")),
    ]


SEEDS = _seeds()
SPECIAL = [
    b"\r\n",
    b"\n\n",
    b"--",
    b":",
    b"<",
    b">",
    b"=?",
    b"?=",
    b"\x00",
    b"\xff",
    b'"',
    b";",
    b"boundary=",
]


@st.composite
def mutated_mail(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "flip", "truncate"]))
        if action == "insert":
            raw[at:at] = draw(st.sampled_from(SPECIAL) | st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del raw[at : at + draw(st.integers(1, 64))]
        elif action == "flip" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif action == "truncate":
            del raw[at:]
    return bytes(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_mail())
def test_mutated_mails_parse_or_are_rejected(raw: bytes) -> None:
    try:
        parsed = parse(raw)
    except Rejected as exc:
        assert exc.reason
        return
    _assert_storable(parsed)
