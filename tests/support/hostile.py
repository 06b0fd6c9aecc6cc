"""Hostile HTTP input against one service served as in production (uvicorn with h11, on loopback,
its lifespan running: real PostgreSQL and Kafka).

A service's test module describes a few of its endpoints as a ``Target`` and runs every case of
``CASES`` on it. Each case asserts a 4xx ``application/problem+json`` answer naming the field and
the reason where it is a field error, never a 5xx; after each one the service must answer a normal
request within ``ANSWER_WITHIN`` seconds (no stuck worker).

Header floods are refused by the app with 431 problem+json (tierline_shared.limits); uvicorn's
HTTP parser (h11) may refuse a header block over 16 KiB first when it arrives in several reads,
with its own plain-text 400 (or by closing the connection): the app never runs then, so that answer
is not problem+json. refused_as_too_large accepts both, and nothing else.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import yaml

from tierline_launcher.procs import free_port
from tierline_shared import migrations
from tierline_shared.testing import ServerThread, app_settings

PROBLEM_JSON = "application/problem+json"
ANSWER_WITHIN = 20.0  # seconds a normal request may take right after a hostile one (2 busy cores)
MAX_BODY = 256 * 1024  # the services' default TIERLINE_MAX_BODY_BYTES
DEPTH = 10_000
DIGITS = 10_000
SQL_LIKE = ("' OR 1=1 --", "%", "_", "\\", "'; DROP TABLE incidents; --", "%' OR '%'='")


@dataclass(frozen=True)
class Write:
    """A write endpoint and a valid body for it. Its answer may be 404 or 409 (a random id, a state):
    hostile variants of the body must be refused by validation first, with 4xx."""

    method: str
    path: str
    body: Mapping[str, Any]
    string_field: str  # a top-level field that takes a string
    number_field: str | None = None  # a top-level field that takes a number, if the body has one
    # Signed as text with Target.sign (a vendor's Standard Webhooks callback): a body that is not
    # UTF-8 cannot be verified, so it is refused with 401 before anything reads it.
    signed: bool = False


@dataclass(frozen=True)
class Target:
    """One running service and the endpoints the cases use."""

    name: str
    url: str
    auth: dict[str, str]
    writes: tuple[Write, ...]
    listing: str  # a list endpoint answered 200 with ``auth`` and no parameters
    lookup: str  # a path with one "{}" segment naming something (free text or an id)
    filtered: str = ""  # a list endpoint with query parameters (default: listing)
    text_filters: tuple[str, ...] = ()  # its free-text query parameters
    typed_filters: tuple[str, ...] = ()  # its parameters of a type (uuid, date, enum, number)
    rows: Callable[[Any], list[Any]] = field(default=lambda answer: answer["items"])
    # Signature headers for the body of a ``signed`` write.
    sign: Callable[[bytes], dict[str, str]] | None = None

    def __post_init__(self) -> None:
        if not self.filtered:
            object.__setattr__(self, "filtered", self.listing)

    def headers(self, write: Write, body: bytes, **more: str) -> dict[str, str]:
        signed = self.sign(body) if write.signed and self.sign is not None else {}
        return {**self.auth, "content-type": "application/json", **signed, **more}


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn (h11, as ``python -m tierline_<service> serve`` runs it) on a free
    loopback port, its lifespan started; yields its base URL."""
    port = free_port()
    with ServerThread(app, port):
        yield f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class Service:
    """A service served by ``service``: its base URL, its app and its database."""

    url: str
    app: Any
    database_url: str


@contextmanager
def service(
    create_app: Callable[[Any], Any],
    settings_type: Callable[..., Any],
    *,
    infra: Any,
    database_url: str,
    migrations_dir: Path,
    config_dir: Path,
    admin_key: str,
    config_files: Mapping[str, Any] | None = None,
) -> Iterator[Service]:
    """A service on the test servers, as ``served`` serves it: its database migrated, its
    ``config_files`` (name -> content) written into ``config_dir`` as YAML, under a topic prefix of
    its own, its rate limit lifted (hundreds of requests come from one key)."""
    migrations.upgrade(migrations_dir, database_url)
    for name, content in (config_files or {}).items():
        (config_dir / name).write_text(yaml.safe_dump(content))
    settings = app_settings(
        settings_type, infra, database_url, config_dir, api_key=admin_key, rate_limit_per_minute=1_000_000
    )
    app = create_app(settings)
    with served(app) as base:
        yield Service(base, app, database_url)


def client(target: Target) -> httpx.Client:
    return httpx.Client(base_url=target.url, timeout=ANSWER_WITHIN)


# --- assertions --------------------------------------------------------------------------------------


def problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The problem+json of a 4xx answer (one of ``statuses`` if given)."""
    where = f"{response.request.method} {response.request.url.raw_path[:120]!r}"
    assert 400 <= response.status_code < 500, f"{where}: {response.status_code} {response.text[:500]}"
    if statuses:
        assert response.status_code in statuses, f"{where}: {response.status_code} {response.text[:500]}"
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert content_type == PROBLEM_JSON, f"{where}: content-type {content_type!r}: {response.text[:300]}"
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code and body.get("title"), body
    return body


def names(body: dict[str, Any], fld: str, reason: str = "") -> dict[str, Any]:
    """The problem's error naming ``fld`` or an item of it (its reason containing ``reason``,
    case-insensitive)."""
    errors = body.get("errors") or []
    found = [
        e
        for e in errors
        if (e.get("field") == fld or str(e.get("field")).startswith(f"{fld}."))  # a list's item: status.0
        and reason.lower() in str(e.get("reason", "")).lower()
    ]
    assert found, f"no error names {fld!r} with reason ~ {reason!r}: {body}"
    return found[0]


def refused_as_too_large(outcome: httpx.Response | httpx.TransportError) -> None:
    """Headers too many or too large: the app's 431 problem+json, or — when uvicorn's h11 parser
    refuses the header block first (over 16 KiB arriving in more than one read) — uvicorn's own
    plain-text 400, or the connection closed on the sender. The app never runs then, so that answer
    is not problem+json. Never a 2xx or 5xx."""
    if isinstance(outcome, httpx.TransportError):
        return
    content_type = outcome.headers.get("content-type", "").split(";")[0].strip()
    if content_type == PROBLEM_JSON:
        problem(outcome, 431)
    else:
        assert 400 <= outcome.status_code < 500, f"{outcome.status_code} {outcome.text[:300]}"


def still_answers(target: Target) -> None:
    """A normal request on a fresh connection is answered 200 within ANSWER_WITHIN seconds."""
    with client(target) as http:
        response = http.get(target.listing, headers=target.auth)
    assert response.status_code == 200, (
        f"{target.name} stopped answering: {response.status_code} {response.text}"
    )


def send(http: httpx.Client, target: Target, write: Write, body: bytes, **headers: str) -> httpx.Response:
    return http.request(
        write.method, write.path, content=body, headers=target.headers(write, body, **headers)
    )


def with_field(write: Write, name: str, raw_value: str) -> bytes:
    """The write's valid body with ``name`` set to ``raw_value``, a JSON text spliced in as is."""
    rest = {k: v for k, v in write.body.items() if k != name}
    prefix = json.dumps(rest)[:-1] + (", " if rest else "")
    return f"{prefix}{json.dumps(name)}: {raw_value}}}".encode()


def _writes(target: Target) -> tuple[Write, ...]:
    assert target.writes, f"{target.name} names no write endpoint"
    return target.writes


def _numbered(target: Target) -> list[Write]:
    found = [w for w in target.writes if w.number_field]
    assert found, f"{target.name} names no write endpoint with a number field"
    return found


# --- the cases -------------------------------------------------------------------------------------------


def body_over_limit_declared(target: Target, http: httpx.Client) -> None:
    for write in _writes(target):
        body = with_field(write, write.string_field, json.dumps("x" * (MAX_BODY + 1)))
        found = problem(send(http, target, write, body), 413)
        assert found["max_bytes"] == MAX_BODY, found


def body_over_limit_chunked(target: Target, http: httpx.Client) -> None:
    """Transfer-Encoding: chunked, no Content-Length: the limit counts the chunks as they come."""
    for write in _writes(target):
        body = with_field(write, write.string_field, json.dumps("x" * (MAX_BODY + 1)))

        def chunks(data: bytes = body) -> Iterator[bytes]:
            for start in range(0, len(data), 16 * 1024):
                yield data[start : start + 16 * 1024]

        headers = target.headers(write, body)
        response = http.request(write.method, write.path, content=chunks(), headers=headers)
        assert "content-length" not in response.request.headers
        problem(response, 413)


def body_held_half_sent(target: Target, http: httpx.Client) -> None:
    """A client that declares a body and sends half of it, then waits: others are still answered."""
    write = _writes(target)[0]
    url = urlsplit(target.url)
    body = json.dumps(dict(write.body)).encode()
    head = [f"{write.method} {write.path} HTTP/1.1", f"host: {url.netloc}", f"content-length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in target.headers(write, body).items()]
    with socket.create_connection(
        (url.hostname or "127.0.0.1", url.port or 80), timeout=ANSWER_WITHIN
    ) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body[: len(body) // 2])
        still_answers(target)


def invalid_utf8_body(target: Target, http: httpx.Client) -> None:
    for write in _writes(target):
        body = with_field(write, write.string_field, '"caf\xe9 \xff"').replace(
            b"\xc3\xa9 \xc3\xbf", b"\xe9 \xff"
        )
        assert b"\xff" in body and b"\xc3" not in body
        if write.signed:
            problem(send(http, target, write, body), 401)
        else:
            names(problem(send(http, target, write, body), 400, 422), "body", "UTF-8")


def invalid_utf8_query(target: Target, http: httpx.Client) -> None:
    for param in (*target.text_filters, *target.typed_filters, "unknown"):
        response = http.get(f"{target.filtered}?{param}=%FF%FEcaf%E9", headers=target.auth)
        err = names(problem(response, 400, 422), param, "UTF-8")
        assert err.get("in") == "query", err


def invalid_utf8_path(target: Target, http: httpx.Client) -> None:
    response = http.get(target.lookup.format("%FF%FE"), headers=target.auth)
    names(problem(response, 400, 404, 422), "path", "UTF-8")


def _deep(kind: str) -> str:
    return "[" * DEPTH + "]" * DEPTH if kind == "array" else '{"a": ' * DEPTH + "1" + "}" * DEPTH


def deep_json_body(target: Target, http: httpx.Client) -> None:
    """10,000 levels of arrays, then of objects: the whole body, and as a field's value."""
    for write in _writes(target):
        for kind in ("array", "object"):
            for body in (_deep(kind).encode(), with_field(write, write.string_field, _deep(kind))):
                names(problem(send(http, target, write, body), 400, 422), "body", "nested")


def huge_integer(target: Target, http: httpx.Client) -> None:
    """A 10,000-digit integer in a number field and in a string field: refused, naming the field."""
    for write in _writes(target):
        fields = [f for f in (write.number_field, write.string_field) if f]
        for name in fields:
            body = with_field(write, name, "9" * DIGITS)
            names(problem(send(http, target, write, body), 400, 422), name)


def huge_float(target: Target, http: httpx.Client) -> None:
    """10,000 digits with a decimal point, negative too, and a huge exponent (each beyond a float: JSON
    parsers make them infinite) where a number and where a string goes."""
    for write in _writes(target):
        for name in (f for f in (write.number_field, write.string_field) if f):
            for number in ("9" * DIGITS + ".5", "-" + "9" * DIGITS + ".5", "1e" + "9" * 40):
                body = with_field(write, name, number)
                names(problem(send(http, target, write, body), 400, 422), name)


def nul_in_json_string(target: Target, http: httpx.Client) -> None:
    for write in _writes(target):
        body = with_field(write, write.string_field, json.dumps("before\x00after"))
        assert b"\\u0000" in body
        names(problem(send(http, target, write, body), 400, 422), write.string_field)


def nul_in_query(target: Target, http: httpx.Client) -> None:
    for param in (*target.text_filters, *target.typed_filters):
        response = http.get(f"{target.filtered}?{param}=a%00b", headers=target.auth)
        err = names(problem(response, 400, 422), param, "NUL")
        assert err.get("in") == "query", err


def nul_in_path(target: Target, http: httpx.Client) -> None:
    response = http.get(target.lookup.format("a%00b"), headers=target.auth)
    names(problem(response, 400, 404, 422), "path", "NUL")


def sql_like_filters(target: Target, http: httpx.Client) -> None:
    """Filter values that look like SQL or LIKE patterns match nothing literally (the listing has rows,
    none with such a value): 200 with no rows, or a 4xx problem. Never all rows. A typed parameter
    (uuid, date, enum, number) refuses them with 422 naming it."""
    if target.text_filters:
        answer = http.get(target.filtered, headers=target.auth)
        assert answer.status_code == 200 and target.rows(answer.json()), f"seed {target.filtered} first"
    for value in SQL_LIKE:
        for param in target.text_filters:
            response = http.get(target.filtered, params={param: value}, headers=target.auth)
            if response.status_code == 200:
                assert target.rows(response.json()) == [], f"{param}={value!r} matched rows"
            else:
                problem(response)
        for param in target.typed_filters:
            response = http.get(target.filtered, params={param: value}, headers=target.auth)
            names(problem(response, 422), param)


def sql_like_path(target: Target, http: httpx.Client) -> None:
    """Path segments that look like SQL or LIKE patterns name nothing: 404 (or 422 for an id)."""
    for value in SQL_LIKE:
        response = http.get(target.lookup.format(quote(value, safe="")), headers=target.auth)
        problem(response, 404, 422)


def many_headers(target: Target, http: httpx.Client) -> None:
    """100 extra headers (about 6 KiB) change nothing; 1,000 (about 60 KiB) are refused."""
    extra = [(f"x-flood-{i}", "v" * 40) for i in range(100)]
    response = http.get(target.listing, headers=[*target.auth.items(), *extra])
    assert response.status_code == 200, response.text
    flood = [(f"x-flood-{i}", "v" * 40) for i in range(1_000)]
    refused_as_too_large(_outcome(lambda: http.get(target.listing, headers=[*target.auth.items(), *flood])))


def huge_header_value(target: Target, http: httpx.Client) -> None:
    """A 12 KiB header value changes nothing; a 100 KiB one is refused."""
    response = http.get(target.listing, headers={**target.auth, "x-big": "v" * (12 * 1024)})
    assert response.status_code == 200, response.text
    refused_as_too_large(
        _outcome(lambda: http.get(target.listing, headers={**target.auth, "x-big": "v" * 100_000}))
    )


def huge_authorization(target: Target, http: httpx.Client) -> None:
    """A 12 KiB key (bearer or bare, ASCII or not) is an unknown key: 401; a 100 KiB one is refused."""
    for value in ("Bearer tl_" + "k" * 12 * 1024, "k" * 12 * 1024, "Bearer " + "\u00e9" * 4096):
        problem(http.get(target.listing, headers={"authorization": value.encode()}), 401)
    huge = {"authorization": "Bearer tl_" + "k" * 100_000}
    refused_as_too_large(_outcome(lambda: http.get(target.listing, headers=huge)))


def wrong_content_type(target: Target, http: httpx.Client) -> None:
    """A valid JSON body declared as text, a form or XML is refused as a body of the wrong kind."""
    for write in _writes(target):
        body = json.dumps(dict(write.body)).encode()
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            response = send(http, target, write, body, **{"content-type": content_type})
            names(problem(response, 400, 415, 422), "body")
        response = send(http, target, write, b"title=x&service=y", **{"content-type": "multipart/form-data"})
        names(problem(response, 400, 415, 422), "body")


def empty_body(target: Target, http: httpx.Client) -> None:
    for write in _writes(target):
        names(problem(send(http, target, write, b""), 400, 422), "body")


def not_an_object(target: Target, http: httpx.Client) -> None:
    """A bare scalar, null, or an array where an object is expected."""
    for write in _writes(target):
        for body in (b"42", b'"a string"', b"true", b"null", b"[]", json.dumps([dict(write.body)]).encode()):
            names(problem(send(http, target, write, body), 400, 422), "body")


def _outcome(call: Callable[[], httpx.Response]) -> httpx.Response | httpx.TransportError:
    try:
        return call()
    except httpx.TransportError as exc:  # the server closed the connection on a request it refused
        return exc


CASES: list[Callable[[Target, httpx.Client], None]] = [
    body_over_limit_declared,
    body_over_limit_chunked,
    body_held_half_sent,
    invalid_utf8_body,
    invalid_utf8_query,
    invalid_utf8_path,
    deep_json_body,
    huge_integer,
    huge_float,
    nul_in_json_string,
    nul_in_query,
    nul_in_path,
    sql_like_filters,
    sql_like_path,
    many_headers,
    huge_header_value,
    huge_authorization,
    wrong_content_type,
    empty_body,
    not_an_object,
]


def cases(*skip: str) -> Any:
    """The parametrization of a service's test over CASES (by name), bar ``skip`` (each with its reason
    in the service's module)."""
    chosen = [case for case in CASES if case.__name__ not in skip]
    return pytest.mark.parametrize("case", chosen, ids=[case.__name__ for case in chosen])


def run(case: Callable[[Target, httpx.Client], None], target: Target) -> None:
    """One case, then a normal request on a fresh connection: the service still answers."""
    with client(target) as http:
        case(target, http)
    still_answers(target)


assert sys.get_int_max_str_digits() < DIGITS, "the interpreter would parse a 10,000-digit integer"
