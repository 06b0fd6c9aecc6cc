"""Unit tests of the notification templates: the shipped folder, escaping, strictness, load-time checks."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tierline_notifier.adapters.templates import (
    KINDS,
    RenderError,
    TemplateProblem,
    Templates,
    duration,
    percent,
    when,
)

TEMPLATES_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config" / "templates"
REFERENCE = "TL-1A2B3C4D"
ACK = "https://tierline.example/links/acknowledge?token=abc.def&x=1"
FOLLOW = "https://tierline.example/follow/TL-1A2B3C4D"
CSAT = {score: f"https://tierline.example/links/csat?token=s{score}" for score in range(1, 6)}
AGENT_KINDS = [
    kind for kind in KINDS if kind not in ("escalated_fyi", "reporter_created", "reporter_resolved")
]

EVENTS: dict[str, dict[str, Any]] = {
    "assigned": {},
    "team_waiting": {},
    "renotified": {"attempt": 2, "of": 3},
    "escalated": {
        "from_tier": "L1",
        "to_tier": "L2",
        "reason": "sla_breach",
        "note": None,
        "direction": "up",
    },
    "escalated_fyi": {
        "from_tier": "L1",
        "to_tier": "L2",
        "reason": "no_ack",
        "note": "Needs a network engineer",
    },
    "sla_warning": {
        "clock": "resolution",
        "threshold": 0.75,
        "remaining_seconds": 2700,
        "due_at": "2026-12-07T09:15:00+00:00",
        "last": True,
    },
    "sla_breached": {"clock": "response", "due_at": "2026-12-07T09:15:00+00:00"},
    "p1_created": {},
    "vendor_trouble": {"vendor": "acme-isp", "what": "case_rejected", "detail": "Out of contract hours"},
    "reporter_created": {},
    "reporter_resolved": {"resolution_code": "workaround", "note": "Reset the tunnel on the Lyon gateway."},
}
ROLES = {
    "team_waiting": "team",
    "escalated_fyi": "previous_assignee",
    "p1_created": "team",
    "vendor_trouble": "team",
    "reporter_created": "reporter",
    "reporter_resolved": "reporter",
}


def _context(kind: str, **incident: Any) -> dict[str, Any]:
    role = ROLES.get(kind, "assignee")
    is_reporter = role == "reporter"
    return {
        "incident": {
            "id": "1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d",
            "reference": REFERENCE,
            "title": "VPN down",
            "priority": "P1",
            "service": "vpn",
            "category": "network",
            "tier": "L1",
            "queue": "service-desk",
            "assignee": "alice",
            "reporter": "bob@example.com",
            "url": "https://tierline.example/incidents/TL-1A2B3C4D",
        }
        | incident,
        "recipient": {"name": "bob@example.com" if is_reporter else "alice", "role": role},
        "event": copy.deepcopy(EVENTS[kind]),
        "links": {
            "acknowledge": None if is_reporter else ACK,
            "csat": CSAT if kind == "reporter_resolved" else None,
            "follow": FOLLOW,
        },
    }


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates.load(TEMPLATES_DIR)


def _write_folder(root: Path, **files: str) -> Path:
    """A minimal valid folder, with ``files`` (name with dots as ``__``) replacing or adding files."""
    for kind in KINDS:
        (root / f"{kind}.subject.j2").write_text(f"[{{{{ incident.reference }}}}] {kind}\n")
        (root / f"{kind}.text.j2").write_text("{{ incident.title }}\n")
        (root / f"{kind}.html.j2").write_text("<p>{{ incident.title }}</p>\n")
        (root / f"{kind}.chat.j2").write_text("{{ incident.title }}\n")
    for name, text in files.items():
        (root / name.replace("__", ".")).write_text(text)
    return root


def _problem(directory: Path) -> str:
    with pytest.raises(TemplateProblem) as caught:
        Templates.load(directory)
    return str(caught.value)


# -- the shipped folder -------------------------------------------------------------------------


def test_the_shipped_folder_has_every_kind_and_loads() -> None:
    names = {path.name for path in TEMPLATES_DIR.glob("*.j2")}
    for kind in KINDS:
        assert {f"{kind}.{part}.j2" for part in ("subject", "text", "html", "chat")} <= names
    assert isinstance(Templates.load(TEMPLATES_DIR), Templates)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_an_email(templates: Templates, kind: str) -> None:
    rendered = templates.render(kind, "email", _context(kind))

    assert rendered.subject.startswith(f"[{REFERENCE}] ")
    assert rendered.subject.endswith(": VPN down")
    assert "\n" not in rendered.subject
    assert "VPN down" in rendered.text
    assert rendered.html is not None
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert "VPN down" in rendered.html
    assert rendered.text == rendered.text.strip()


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_a_chat_message(templates: Templates, kind: str) -> None:
    rendered = templates.render(kind, "chat", _context(kind))

    assert rendered.html is None
    assert rendered.subject == templates.render(kind, "email", _context(kind)).subject
    assert rendered.text
    assert len(rendered.text.splitlines()) <= 5, "chat messages stay short"


@pytest.mark.parametrize("kind", AGENT_KINDS)
def test_agent_messages_carry_the_acknowledge_link(templates: Templates, kind: str) -> None:
    email = templates.render(kind, "email", _context(kind))
    chat = templates.render(kind, "chat", _context(kind))

    assert ACK in email.text
    assert email.html is not None and ACK.replace("&", "&amp;") in email.html
    assert f"[Acknowledge]({ACK})" in chat.text


@pytest.mark.parametrize("kind", AGENT_KINDS)
def test_without_an_acknowledge_link_none_is_offered(templates: Templates, kind: str) -> None:
    context = _context(kind)
    context["links"]["acknowledge"] = None
    email = templates.render(kind, "email", context)

    assert "Acknowledge" not in email.text
    assert email.html is not None and "Acknowledge" not in email.html


def test_the_assignee_subject_reads_like_a_page(templates: Templates) -> None:
    rendered = templates.render("assigned", "email", _context("assigned"))
    assert rendered.subject == "[TL-1A2B3C4D] P1 assigned to you: VPN down"


def test_the_resolved_reporter_gets_five_csat_links_in_order(templates: Templates) -> None:
    email = templates.render("reporter_resolved", "email", _context("reporter_resolved"))
    chat = templates.render("reporter_resolved", "chat", _context("reporter_resolved"))

    assert email.html is not None
    for body in (email.text, email.html, chat.text):
        positions = [body.index(CSAT[score]) for score in range(1, 6)]
        assert positions == sorted(positions)
    assert "Reset the tunnel on the Lyon gateway." in email.text
    assert "[1](" in chat.text and "[5](" in chat.text
    assert ACK not in email.text


def test_the_reporter_hears_the_reference_and_where_to_follow(templates: Templates) -> None:
    email = templates.render("reporter_created", "email", _context("reporter_created"))
    assert email.subject == "[TL-1A2B3C4D] We have your ticket: VPN down"
    assert REFERENCE in email.text and FOLLOW in email.text
    assert "alice" not in email.text, "the reporter is not told internal names"


def test_optional_event_fields_may_be_absent(templates: Templates) -> None:
    escalated = _context("escalated")
    del escalated["event"]["note"]
    resolved = _context("reporter_resolved")
    resolved["event"] = {}
    resolved["links"]["csat"] = None

    assert "L1 to L2" in templates.render("escalated", "email", escalated).text
    text = templates.render("reporter_resolved", "email", resolved).text
    assert "is resolved" in text and "How did we do" not in text


def test_the_warning_speaks_in_durations_and_percent(templates: Templates) -> None:
    rendered = templates.render("sla_warning", "email", _context("sla_warning"))
    assert "75 %" in rendered.text and "45 min left" in rendered.text
    assert "2026-12-07 09:15 UTC" in rendered.text
    assert "last warning" in rendered.text


def test_a_vendor_rejection_is_told_apart_from_a_failed_delivery(templates: Templates) -> None:
    rejected = _context("vendor_trouble")
    failed = _context("vendor_trouble")
    failed["event"]["what"] = "delivery_failed"

    assert "acme-isp rejected the case" in templates.render("vendor_trouble", "email", rejected).subject
    assert "unreachable" in templates.render("vendor_trouble", "email", failed).subject


# -- escaping and one-line subjects ---------------------------------------------------------------


def test_html_escapes_the_title_and_text_does_not(templates: Templates) -> None:
    title = "<script>alert('x')</script> & more"
    rendered = templates.render("assigned", "email", _context("assigned", title=title))

    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html and "&amp; more" in rendered.html
    assert title in rendered.text
    assert title in rendered.subject
    assert title in templates.render("assigned", "chat", _context("assigned", title=title)).subject


def test_the_subject_is_one_line_even_when_the_title_is_not(templates: Templates) -> None:
    rendered = templates.render("assigned", "email", _context("assigned", title="VPN\r\n  down\tagain "))
    assert rendered.subject == "[TL-1A2B3C4D] P1 assigned to you: VPN down again"


def test_a_multi_line_subject_template_is_collapsed(tmp_path: Path) -> None:
    folder = _write_folder(
        tmp_path, assigned__subject__j2="{{ incident.reference }}\n\n  {{ incident.title }}\n"
    )
    rendered = Templates.load(folder).render("assigned", "email", _context("assigned"))
    assert rendered.subject == "TL-1A2B3C4D VPN down"


def test_an_empty_subject_is_refused(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path, p1_created__subject__j2="{{ event.get('nothing') or '' }}\n")
    with pytest.raises(RenderError, match=r"p1_created\.subject\.j2: the subject is empty"):
        Templates.load(folder, dry_run=False).render("p1_created", "email", _context("p1_created"))


# -- strictness at render time ------------------------------------------------------------------


def test_a_missing_variable_names_the_template(templates: Templates) -> None:
    context = _context("assigned")
    del context["incident"]["title"]

    with pytest.raises(RenderError) as caught:
        templates.render("assigned", "email", context)
    assert caught.value.template == "assigned.subject.j2"
    assert caught.value.line == 1
    assert caught.value.trail == (("assigned.subject.j2", 1),)
    assert "title" in str(caught.value) and str(caught.value).startswith("assigned.subject.j2:1:")


def test_a_missing_variable_deep_in_an_include_names_that_file(templates: Templates) -> None:
    context = _context("assigned")
    del context["recipient"]["role"]

    with pytest.raises(RenderError) as caught:
        templates.render("assigned", "email", context)
    names = [name for name, _ in caught.value.trail]
    assert names[0] == "assigned.text.j2" and "_footer.text.j2" in names
    assert caught.value.template == names[-1]
    assert "role" in caught.value.reason
    assert "(via assigned.text.j2:" in str(caught.value)


def test_a_bad_value_for_a_filter_is_a_render_error(templates: Templates) -> None:
    context = _context("sla_warning")
    context["event"]["remaining_seconds"] = "soon"

    with pytest.raises(RenderError, match=r"sla_warning\.subject\.j2:\d+: duration needs a number"):
        templates.render("sla_warning", "email", context)


def test_the_sandbox_refuses_internals(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path, assigned__chat__j2="{{ incident.title.__class__.__mro__ }}\n")
    with pytest.raises(RenderError, match=r"assigned\.chat\.j2:1:"):
        Templates.load(folder, dry_run=False).render("assigned", "chat", _context("assigned"))


def test_an_unknown_kind_or_channel_is_a_programming_error(templates: Templates) -> None:
    with pytest.raises(ValueError, match="unknown notification kind 'paged'"):
        templates.render("paged", "email", _context("assigned"))
    with pytest.raises(ValueError, match="unknown channel 'sms'"):
        templates.render("assigned", "sms", _context("assigned"))  # type: ignore[arg-type]


# -- problems at load time ------------------------------------------------------------------------


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    folder = _write_folder(
        tmp_path, assigned__text__j2="Hello {{ recipient.name }},\n\n{{ incident.title }\n"
    )
    assert f"{folder}/assigned.text.j2:3: unexpected '}}'" in _problem(folder)


def test_a_missing_template_is_named(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path)
    (folder / "escalated.chat.j2").unlink()
    assert _problem(folder) == f"{folder}/escalated.chat.j2: missing"


def test_an_unknown_filter_is_caught_at_load_even_inside_a_condition(tmp_path: Path) -> None:
    folder = _write_folder(
        tmp_path,
        assigned__text__j2="Hello\n\n{{ incident.title|shout }}\n",
        assigned__chat__j2="{% if incident.tier %}\n{{ incident.tier|loud }}\n{% endif %}\n",
        assigned__html__j2="{% if incident.tier is tierish %}x{% endif %}\n",
    )
    problem = _problem(folder)
    assert f"{folder}/assigned.text.j2:3: unknown filter 'shout'" in problem
    assert f"{folder}/assigned.chat.j2:2: unknown filter 'loud'" in problem
    assert f"{folder}/assigned.html.j2:1: unknown test 'tierish'" in problem


def test_a_reference_to_a_missing_template_is_caught(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path, assigned__html__j2='\n{% extends "_layuot.html.j2" %}\n')
    assert f"{folder}/assigned.html.j2:2: refers to missing template '_layuot.html.j2'" in _problem(folder)


def test_a_misspelt_file_name_is_not_silently_ignored(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path, asigned__text__j2="{{ incident.title }}\n")
    assert f"{folder}/asigned.text.j2: unexpected template" in _problem(folder)


def test_the_dry_run_catches_a_misspelt_variable(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path, renotified__chat__j2="Reminder\n{{ incident.titel }}\n")
    problem = _problem(folder)
    assert f"{folder}/renotified.chat.j2:2: 'dict object' has no attribute 'titel'" in problem
    assert len(problem.splitlines()) == 1, "one line per mistake, however many samples hit it"
    assert Templates.load(folder, dry_run=False) is not None


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path, assigned__text__j2="{% if %}\n", p1_created__chat__j2="{{ x|nope }}\n")
    (folder / "sla_breached.html.j2").unlink()
    with pytest.raises(TemplateProblem) as caught:
        Templates.load(folder)
    assert len(caught.value.problems) == 3


def test_a_folder_that_is_not_there_is_a_problem(tmp_path: Path) -> None:
    assert _problem(tmp_path / "nowhere") == f"{tmp_path / 'nowhere'}: not a folder of templates"


# -- filters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0 s"),
        (30, "30 s"),
        (59.4, "59 s"),
        (59.6, "1 min"),
        (2700, "45 min"),
        (3599, "59 min"),
        (3600, "1 h 00 min"),
        (3900, "1 h 05 min"),
        (90_000, "25 h 00 min"),
        (-300, "-5 min"),
    ],
)
def test_duration(seconds: float, expected: str) -> None:
    assert duration(seconds) == expected


@pytest.mark.parametrize(
    ("fraction", "expected"), [(0.75, "75 %"), (0.5, "50 %"), (1, "100 %"), (0.875, "87.5 %")]
)
def test_percent(fraction: float, expected: str) -> None:
    assert percent(fraction) == expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-12-05T14:30:59+00:00", "2026-12-05 14:30 UTC"),
        ("2026-12-05T14:30:00Z", "2026-12-05 14:30 UTC"),
        ("2026-12-05T15:30:00+01:00", "2026-12-05 15:30 +0100"),
        ("2026-12-05T14:30:00", "2026-12-05 14:30"),
    ],
)
def test_when(moment: str, expected: str) -> None:
    assert when(moment) == expected


@pytest.mark.parametrize("value", ["soon", None, True])
def test_filters_refuse_what_is_not_a_number(value: Any) -> None:
    with pytest.raises(TypeError):
        duration(value)
    with pytest.raises(TypeError):
        percent(value)


def test_when_refuses_what_is_not_a_time() -> None:
    with pytest.raises(TypeError):
        when(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        when("tomorrow-ish")
