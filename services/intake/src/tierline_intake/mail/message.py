"""Raw mail bytes → a checked, classified `InboundMail` (pure: no database, no network, no clock)."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import errors, policy
from email.headerregistry import BaseHeader
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.policy import EmailPolicy, Policy
from typing import TYPE_CHECKING, Any

from tierline_intake.mail.attachments import part_filenames, refusal, safe_filename
from tierline_intake.mail.loops import auto_reason
from tierline_intake.mail.text import (
    HTML_BYTES_MAX,
    TEXT_BYTES_MAX,
    TITLE_MAX,
    clean_line,
    clean_text,
    decode_bytes,
    html_to_text,
)

NOTIFICATION_ID = re.compile(r"^([0-9a-f-]{32,36})@tierline$", re.IGNORECASE)
REFERENCE = re.compile(r"\[\s*TL-([0-9a-f]{8})\s*\]", re.IGNORECASE)
MESSAGE_ID_MAX = 998  # one header line; also well under PostgreSQL's btree entry limit
ADDRESS_MAX = 320
CONTENT_TYPE_MAX = 255
MAX_PARTS = 1000
MAX_DEPTH = 20
# Every part of every forwarded mail and every multipart container, counted as the parser makes them.
MAX_NODES = 2 * MAX_PARTS
# Python's header parser is slow on hostile values (a quoted name of 250 KB took 25 s; each address or
# parameter costs ~0.1 ms, ";" * 8000 in one Content-Type 0.3 s). One field, folded lines included, and the
# fields of all parts together are bounded as the parser reads them; the values that do get parsed
# (Content-*, From, To …) have a budget of their own, in bytes and in items (the "," and ";" in them).
HEADER_FIELD_MAX = 8 * 1024
HEADERS_TOTAL_MAX = 256 * 1024
PARSED_HEADERS_MAX = 48 * 1024
HEADER_ITEMS_MAX = 500  # in one field: 500 addresses or parameters
PARSED_ITEMS_MAX = 4000  # in all fields read
# a msg-id between <>: printable ASCII without space, "<" or ">"
_MSG_ID = re.compile(r"<([!-;=?-~]+)>")
_BARE_MSG_ID = re.compile(r"^[!-;=?-~]+$")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_LINE = re.compile(rb"^[^ \t\r\n]", re.MULTILINE)
_LINE_BREAKS = re.compile(r"[\r\n]")
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSAFE_DOMAIN = re.compile(r"[\x00-\x20\x7f-\x9f]")
# Defects that leave no way to tell the parts apart; minor ones (bad padding, obsolete syntax) are lived with.
_FATAL_DEFECTS = (
    errors.NoBoundaryInMultipartDefect,
    errors.StartBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
)
# Writes a forwarded mail's headers back as they came: refolding parses each long one (15 s for 180 KB of To).
_VERBATIM = policy.default.clone(refold_source="none")


class Rejected(Exception):
    """Mail that cannot be a message at all; `reason` is recorded by the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes
    refused: str | None = None  # why it is not stored (an executable type); `data` is b"" then
    sha256: str = ""  # hex digest of the bytes as received, refused ones included


@dataclass(frozen=True)
class InboundMail:
    message_id: str
    from_address: str
    from_name: str | None
    to: tuple[str, ...]
    subject: str
    text: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    reference: str | None
    auto: str | None
    attachments: tuple[Attachment, ...]

    def notification_ids(self) -> tuple[uuid.UUID, ...]:
        """Ids of the notifier's `<uuid@tierline>` messages this mail answers, in order."""
        found: list[uuid.UUID] = []
        for mid in (*self.in_reply_to, *self.references):
            match = NOTIFICATION_ID.match(mid)
            if match is None:
                continue
            try:
                value = uuid.UUID(match.group(1))
            except ValueError:
                continue
            if value not in found:
                found.append(value)
        return tuple(found)


def parse(
    raw: bytes,
    *,
    envelope_sender: str | None = None,
    max_header_bytes: int = 64 * 1024,
    max_headers: int = 500,
) -> InboundMail:
    """Read one mail; raises `Rejected` (and nothing else) for mail that cannot become a message.

    `envelope_sender` is SMTP's MAIL FROM: "" (the null sender `<>`) marks a bounce or an auto-reply;
    None when it is not known (IMAP), where a `Return-Path: <>` the delivering server wrote says the same.
    """
    _check_header_limits(raw, max_header_bytes, max_headers)
    try:
        parser = BytesParser(policy=_BoundedPolicy(_Budget()))
        return _read(parser.parsebytes(raw), raw, envelope_sender)
    except Rejected:
        raise
    except Exception as exc:  # the email package and its helpers have many ways to fail on hostile input
        raise Rejected(f"malformed MIME: {type(exc).__name__}: {clean_line(str(exc), 200)}") from exc


class _Budget:
    """What one parse has spent: header bytes and parts; and the header values it has already parsed."""

    def __init__(self) -> None:
        self.header_bytes = 0
        self.parsed_bytes = 0
        self.parsed_items = 0
        self.nodes = 0
        self.parsed: dict[tuple[str, str], Any] = {}

    def header(self, parser: Callable[[str, str], Any], name: str, value: str) -> Any:
        """`parser(name, value)`, once per distinct value, within the parsing budget."""
        key = (name, value)
        found = self.parsed.get(key)
        if found is None:
            items = value.count(",") + value.count(";")
            if items > HEADER_ITEMS_MAX:
                label = clean_line(name, 60)
                raise Rejected(f"header field {label!r} with more than {HEADER_ITEMS_MAX} items")
            self.parsed_bytes += len(value)
            self.parsed_items += items
            if self.parsed_bytes > PARSED_HEADERS_MAX:
                raise Rejected(f"header fields to read over the limit of {PARSED_HEADERS_MAX} bytes")
            if self.parsed_items > PARSED_ITEMS_MAX:
                raise Rejected(f"header fields to read with more than {PARSED_ITEMS_MAX} items in all")
            found = self.parsed[key] = parser(name, value)
        return found

    def new_part(self, policy: Policy[EmailMessage]) -> EmailMessage:
        """The parser's message factory: counts the parts it makes; a mail of a million parts stops early."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise Rejected(f"malformed MIME: more than {MAX_NODES} parts in all")
        return EmailMessage(policy=policy)


if TYPE_CHECKING:
    _EmailPolicy = EmailPolicy[EmailMessage]  # generic only in typeshed
else:
    _EmailPolicy = EmailPolicy


class _BoundedPolicy(_EmailPolicy):
    """`policy.default` with header limits enforced while the parser reads, and each header parsed once.

    email re-parses a header on every access (`get_content_type()`, `get_param()`, `get_filename()` …);
    the cache makes each distinct value cost one parse. Header objects are immutable, so sharing them is safe.
    """

    budget: _Budget

    def __init__(self, budget: _Budget) -> None:
        super().__init__(message_factory=budget.new_part)
        object.__setattr__(self, "budget", budget)  # policies are read-only once made

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        size = sum(len(line) for line in sourcelines)  # surrogate-escaped: one character per byte
        if size > HEADER_FIELD_MAX:
            name = clean_line(sourcelines[0].split(":", 1)[0], 60)
            raise Rejected(f"header field {name!r} over the limit of {HEADER_FIELD_MAX} bytes")
        self.budget.header_bytes += size
        if self.budget.header_bytes > HEADERS_TOTAL_MAX:
            raise Rejected(f"headers of all parts over the limit of {HEADERS_TOTAL_MAX} bytes")
        return super().header_source_parse(sourcelines)

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):  # already a header object
            return super().header_fetch_parse(name, value)
        return self.budget.header(super().header_fetch_parse, name, value)


def _check_header_limits(raw: bytes, max_header_bytes: int, max_headers: int) -> None:
    end = _HEADER_END.search(raw, 0, max_header_bytes + 4)
    header_section = raw[: end.start()] if end else raw
    if len(header_section) > max_header_bytes:
        raise Rejected(f"header section over the limit of {max_header_bytes} bytes")
    if len(_FIELD_LINE.findall(header_section)) > max_headers:
        raise Rejected(f"more header fields than the limit of {max_headers}")


def _read(msg: EmailMessage, raw: bytes, envelope_sender: str | None) -> InboundMail:
    assert isinstance(msg.policy, _BoundedPolicy)
    headers = _Headers(msg, msg.policy.budget)
    from_address, from_name = _sender(headers)
    leaves = list(_leaves(msg, 0))
    body = msg.get_body(preferencelist=("plain", "html"))
    subject = headers.text("Subject") or ""
    reference = REFERENCE.search(subject)
    return InboundMail(
        message_id=_message_id(headers.raw("Message-ID"), raw),
        from_address=from_address,
        from_name=from_name,
        to=_recipients(headers),
        subject=clean_line(subject, TITLE_MAX),
        text=_body_text(body),
        in_reply_to=_ids(headers.raw("In-Reply-To")),
        references=_ids(headers.raw("References")),
        reference="TL-" + reference.group(1).upper() if reference else None,
        auto=auto_reason(
            headers.text,
            from_address.rpartition("@")[0],
            msg.get_content_type(),
            _param(msg, "report-type"),
            envelope_sender,
        ),
        attachments=tuple(_attachments(leaves, body)),
    )


class _Headers:
    """Header access that decodes raw 8-bit values (UTF-8, else windows-1252) instead of showing U+FFFD."""

    def __init__(self, msg: EmailMessage, budget: _Budget) -> None:
        self._items = [(name.lower(), _unfold(value)) for name, value in msg.raw_items()]
        self._budget = budget

    def raw(self, name: str) -> str | None:
        """All occurrences of the header, joined, as written (ids need no RFC 2047 decoding)."""
        values = [value for key, value in self._items if key == name.lower()]
        return " ".join(values) if values else None

    def parsed(self, name: str) -> list[BaseHeader]:
        """Every occurrence parsed; one the header parser cannot read counts as absent."""
        key = name.lower()
        parsed: list[BaseHeader] = []
        for found, value in self._items:
            if found == key:
                try:
                    parsed.append(self._budget.header(policy.default.header_factory, name, value))
                except Rejected:
                    raise
                except Exception:  # noqa: BLE001 - email's parser has bugs (IndexError on "a@")
                    continue
        return parsed

    def text(self, name: str) -> str | None:
        """The first occurrence, RFC 2047 decoded."""
        found = self.parsed(name)
        return str(found[0]) if found else None


def _unfold(value: Any) -> str:
    text = _LINE_BREAKS.sub("", str(value))
    if _ESCAPED_BYTES.search(text) is None:
        return text
    data = text.encode("ascii", "surrogateescape")  # BytesParser kept undeclared 8-bit bytes this way
    return decode_bytes(data, None)


def _sender(headers: _Headers) -> tuple[str, str | None]:
    for header in headers.parsed("From"):
        for address in getattr(header, "addresses", ()):
            spec = str(address.addr_spec)
            if _is_address(address.username, address.domain, spec):
                return spec.lower(), clean_line(address.display_name, TITLE_MAX) or None
    raise Rejected("missing From")


def _is_address(username: str, domain: str, spec: str) -> bool:
    return bool(
        username
        and domain
        and len(spec) <= ADDRESS_MAX
        and not _CONTROLS.search(spec)
        and not _UNSAFE_DOMAIN.search(domain)
        and not _ESCAPED_BYTES.search(spec)
    )


def _recipients(headers: _Headers) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for name in ("To", "Cc"):
        for header in headers.parsed(name):
            for address in getattr(header, "addresses", ()):
                spec = str(address.addr_spec)
                if _is_address(address.username, address.domain, spec):
                    found[spec.lower()] = None
    return tuple(found)


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(mid for mid in _MSG_ID.findall(value or "") if len(mid) <= MESSAGE_ID_MAX))


def _message_id(value: str | None, raw: bytes) -> str:
    """The Message-ID without <>; a digest of the bytes when there is none, so a re-delivery still matches."""
    ids = _ids(value)
    if ids:
        return ids[0]
    bare = (value or "").strip()
    if bare and len(bare) <= MESSAGE_ID_MAX and _BARE_MSG_ID.match(bare):
        return bare
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _param(part: MIMEPart, name: str) -> str | None:
    value = part.get_param(name)
    if value is None or isinstance(value, tuple):
        return None
    return clean_line(str(value), 80).lower() or None


def _leaves(part: MIMEPart, depth: int) -> Iterator[MIMEPart]:
    """The parts that carry content, depth first; a forwarded message/rfc822 stays one leaf."""
    if any(isinstance(defect, _FATAL_DEFECTS) for defect in part.defects):
        raise Rejected("malformed MIME: multipart boundary missing or not found")
    if part.get_content_maintype() != "multipart":
        yield part
        return
    if depth >= MAX_DEPTH:
        raise Rejected(f"malformed MIME: parts nested deeper than {MAX_DEPTH} levels")
    payload = part.get_payload()
    if not isinstance(payload, list):
        raise Rejected("malformed MIME: multipart without parts")
    if len(payload) > MAX_PARTS:
        raise Rejected(f"malformed MIME: more than {MAX_PARTS} parts")
    for sub in payload:
        if isinstance(sub, MIMEPart):
            yield from _leaves(sub, depth + 1)


def _body_text(body: MIMEPart | None) -> str:
    if body is None:
        return ""
    data = body.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    html = body.get_content_subtype() == "html"
    text = decode_bytes(data, body.get_content_charset(), HTML_BYTES_MAX if html else TEXT_BYTES_MAX)
    return clean_text(html_to_text(text) if html else text)


def _attachments(leaves: list[MIMEPart], body: MIMEPart | None) -> Iterator[Attachment]:
    if len(leaves) > MAX_PARTS:
        raise Rejected(f"malformed MIME: more than {MAX_PARTS} parts")
    for part in leaves:
        if part is body:
            continue
        full_type = part.get_content_type()
        content_type = clean_line(full_type, CONTENT_TYPE_MAX)
        names = part_filenames(part, full_type)
        forwarded = full_type == "message/rfc822"
        if not (names or forwarded or part.get_content_disposition() == "attachment"):
            continue  # inline text and images without a name belong to the body, not to the files
        data = _forwarded_bytes(part) if forwarded else part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        filename = names[0] if names else safe_filename("forwarded.eml" if forwarded else None, content_type)
        reason = refusal(names, content_type, data)
        digest = hashlib.sha256(data).hexdigest()  # of the bytes received, also when they are not kept
        yield Attachment(filename, content_type, len(data), b"" if reason else data, reason, digest)


def _forwarded_bytes(part: MIMEPart) -> bytes:
    inner = part.get_payload()
    if isinstance(inner, list) and inner and isinstance(inner[0], MIMEPart):
        try:
            return inner[0].as_bytes(policy=_VERBATIM)
        except Rejected:
            raise
        except Exception:  # noqa: BLE001 - a forwarded mail too broken to write back out: keep its record, not its bytes
            return b""
    return b""
