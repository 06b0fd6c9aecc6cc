"""Hostile mail costs bounded CPU; the null envelope sender; digests of refused files; real charsets only.

Before the limits, the inputs of tests/support/hostile_mail.py took 2.7 s to several minutes in
`parse()` (review finding 1); ``make bench`` (tests.bench.mail_parse) shows what each costs now.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

import pytest

from tests.support.hostile_mail import (
    HEAD,
    HOSTILE,
    many_parts,
    one_part_with_a_big_name,
    parts_with_dense_parameters,
)
from tierline_intake.mail.message import (
    HEADER_FIELD_MAX,
    HEADERS_TOTAL_MAX,
    MAX_NODES,
    PARSED_ITEMS_MAX,
    InboundMail,
    Rejected,
    parse,
)
from tierline_intake.mail.text import DESCRIPTION_MAX, decode_bytes, text_codec


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_mail_is_refused_by_a_named_limit_or_read_within_the_limits(name: str) -> None:
    """What each costs is measured by ``make bench`` (tests.bench.mail_parse), not timed here."""
    try:
        result: InboundMail | str = parse(HOSTILE[name]())
    except Rejected as exc:
        result = exc.reason
    if isinstance(result, str):
        assert "limit" in result or "more than" in result, result
    else:
        assert len(result.text) <= DESCRIPTION_MAX
        assert len(result.subject) <= 1000


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            one_part_with_a_big_name(250_000),
            f"header field 'Content-Type' over the limit of {HEADER_FIELD_MAX} bytes",
        ),
        (
            HEAD + b"X-Big: " + b"a" * 9000 + b"\r\n\r\nx",
            f"header field 'X-Big' over the limit of {HEADER_FIELD_MAX} bytes",
        ),
        (
            many_parts(b"--b\r\nX-Pad: " + b"p" * 8000 + b"\r\n\r\nx\r\n", 300_000),
            f"headers of all parts over the limit of {HEADERS_TOTAL_MAX} bytes",
        ),
        (many_parts(b"--b\r\n\r\nx\r\n", 100_000), f"malformed MIME: more than {MAX_NODES} parts in all"),
        (
            HEAD + b"Content-Type: text/plain" + b";" * 600 + b"\r\n\r\nx",
            "header field 'Content-Type' with more than 500 items",
        ),
        (
            parts_with_dense_parameters(20),
            f"header fields to read with more than {PARSED_ITEMS_MAX} items in all",
        ),
    ],
    ids=[
        "one big part header",
        "one big top-level header",
        "all parts' headers",
        "parts",
        "items",
        "items in all",
    ],
)
def test_each_limit_is_named_in_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse(raw)

    assert caught.value.reason == reason


def test_ordinary_big_mail_stays_within_the_limits() -> None:
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message["To"] = ", ".join(f"Person {i} <person{i}@example.com>" for i in range(150))
    message["Subject"] = "photos"
    message.set_content("see the photos")
    for i in range(300):
        message.add_attachment(b"\x89PNG %d" % i, maintype="image", subtype="png", filename=f"photo {i}.png")

    parsed = parse(message.as_bytes())

    assert len(parsed.to) == 150
    assert [a.filename for a in parsed.attachments] == [f"photo {i}.png" for i in range(300)]


# -- the null envelope sender --------------------------------------------------------------------------------


def test_an_empty_envelope_sender_marks_the_mail_automatic() -> None:
    raw = HEAD + b"\r\nI am out of the office until Monday.\r\n"

    assert parse(raw, envelope_sender="").auto == "null sender (bounce or auto-reply)"
    assert parse(raw, envelope_sender="<>").auto == "null sender (bounce or auto-reply)"
    assert parse(raw, envelope_sender="alice@example.com").auto is None
    assert parse(raw).auto is None  # unknown (IMAP): no verdict from the envelope


def test_without_an_envelope_a_null_return_path_still_counts() -> None:
    raw = b"Return-Path: <>\r\n" + HEAD + b"\r\nbounce\r\n"

    assert parse(raw).auto == "bounce: null sender"


def test_headers_name_the_reason_before_the_envelope_does() -> None:
    raw = HEAD + b"Auto-Submitted: auto-replied\r\n\r\naway\r\n"

    assert parse(raw, envelope_sender="").auto == "auto-submitted: auto-replied"


# -- digests of every attachment -----------------------------------------------------------------------------


def test_refused_and_kept_attachments_carry_the_digest_of_the_bytes_received() -> None:
    program = b"\x7fELF\x02\x01\x01" + bytes(range(64))
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message.set_content("two files")
    message.add_attachment(b"%PDF-1.7 report", maintype="application", subtype="pdf", filename="r.pdf")
    message.add_attachment(program, maintype="application", subtype="octet-stream", filename="tool")

    kept, refused = parse(message.as_bytes()).attachments

    assert (kept.refused, kept.sha256) == (None, hashlib.sha256(b"%PDF-1.7 report").hexdigest())
    assert (refused.refused, refused.data, refused.size) == ("executable content", b"", len(program))
    assert refused.sha256 == hashlib.sha256(program).hexdigest()
    assert refused.sha256 != hashlib.sha256(b"").hexdigest()


# -- charsets: only real text encodings, and only what is kept is decoded ------------------------------------


@pytest.mark.parametrize(
    "charset",
    [
        "punycode",
        "idna",
        "raw-unicode-escape",
        "unicode_escape",
        "undefined",
        "rot13",
        "base64",
        "hex",
        "zlib",
    ],
)
def test_codecs_that_are_no_charset_fall_back_to_utf8_or_windows_1252(charset: str) -> None:
    assert text_codec(charset) is None
    assert decode_bytes("café".encode(), charset) == "café"
    assert decode_bytes("café".encode("cp1252"), charset) == "café"


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("utf-8", "Принтер 日本"),
        ("UTF-16", "Принтер 日本"),
        ("koi8-r", "Принтер"),
        ("shift_jis", "日本語"),
        ("iso-2022-jp", "日本語"),
        ("gb18030", "打印机"),
        ("utf-7", "Принтер 日本"),
    ],
)
def test_real_charsets_are_used(charset: str, text: str) -> None:
    assert text_codec(charset) is not None
    assert decode_bytes(text.encode(charset), charset) == text


def test_a_punycode_body_is_read_as_plain_text() -> None:
    raw = (
        HEAD
        + b"Content-Type: text/plain; charset=punycode\r\nContent-Transfer-Encoding: 8bit\r\n\r\nhello-world"
    )

    assert parse(raw).text == "hello-world"


def test_the_body_is_cut_before_it_is_decoded_and_still_fills_the_description() -> None:
    body = ("Ж" * 3 * DESCRIPTION_MAX).encode("utf-32")  # 4 bytes a character: 240 KB
    raw = HEAD + b"Content-Type: text/plain; charset=utf-32\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body

    text = parse(raw).text

    assert len(text) == DESCRIPTION_MAX
    assert text.startswith("ЖЖЖ") and text.endswith("…")
    assert decode_bytes(b"abcdef", "utf-8", 3) == "abc"
