"""Mail built to be expensive to parse (review finding 1 of issue 21): header-parser slow cases,
quadratic charsets, part floods. The unit tests check each is refused or read within the limits;
``make bench`` (tests.bench.mail_parse) measures what each costs against an ordinary mail.
"""

from __future__ import annotations

import random
from collections.abc import Callable

HEAD = (
    b"From: alice@example.com\r\nTo: support@tierline.localhost\r\nSubject: x\r\n"
    b"Message-ID: <h@example.com>\r\nMIME-Version: 1.0\r\n"
)
MIXED = HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'


def folded_quoted_name(size: int) -> bytes:
    """`application/octet-stream; name="a a a …"` folded over lines: the header parser's slow case."""
    line = b" " + b"a " * 38
    return b'application/octet-stream; name="a' + b"\r\n".join([b"", *[line] * (size // len(line))]) + b'"'


def one_part_with_a_big_name(size: int) -> bytes:
    return (
        MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--b\r\nContent-Type: " + folded_quoted_name(size) + b"\r\n\r\nxx\r\n--b--\r\n"
    )


def punycode_body(size: int) -> bytes:
    letters = random.Random(1).choices(b"abcdefghijklmnopqrstuvwxyz", k=size)
    return (
        HEAD + b"Content-Type: text/plain; charset=punycode\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"" + bytes(letters)
    )


def many_parts(part: bytes, total: int) -> bytes:
    return MIXED + part * (total // len(part)) + b"--b--\r\n"


def parts_with_dense_parameters(count: int) -> bytes:
    return MIXED + b"".join(
        b"--b\r\nContent-Type: text/plain" + b";" * 490 + b"x%d\r\n\r\nx\r\n" % i for i in range(count)
    )


def forwarded_with_long_headers(count: int) -> bytes:
    inner = b"From: a@b.c\r\n" + b"".join(b"To: " + b"a," * 3000 + b"c%d\r\n" % i for i in range(count))
    return (
        MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
        b"" + inner + b"\r\ninner\r\n--b--\r\n"
    )


HOSTILE: dict[str, Callable[[], bytes]] = {
    "250 KB folded Content-Type name in one part": lambda: one_part_with_a_big_name(250_000),
    "1 MB folded Content-Type name in one part": lambda: one_part_with_a_big_name(1_000_000),
    "63 KB top-level header": lambda: HEAD + b"Content-Type: " + folded_quoted_name(63_000) + b"\r\n\r\nx",
    "400 KB punycode body": lambda: punycode_body(400_000),
    "1.2 MB punycode body": lambda: punycode_body(1_200_000),
    "10 MiB of parts with 8 KB names": lambda: many_parts(
        b"--b\r\nContent-Type: " + folded_quoted_name(8000) + b"\r\n\r\nxx\r\n", 10 * 1024 * 1024
    ),
    "10 MiB of empty parts": lambda: many_parts(b"--b\r\n\r\nx\r\n", 10 * 1024 * 1024),
    "400 parts of 490 parameters each": lambda: parts_with_dense_parameters(400),
    "60 To fields of 490 addresses": lambda: (
        (b"From: alice@example.com\r\n" + b"".join(b"To: " + b"a," * 490 + b"b%d\r\n" % i for i in range(60)))
        + b"\r\nbody"
    ),
    "forwarded mail with 180 KB of To fields": lambda: forwarded_with_long_headers(30),
    "10 MB of nested HTML": lambda: HEAD + b"Content-Type: text/html\r\n\r\n" + b"<div><p>word</p>" * 625_000,
}
