"""The incident page's view model: which actions show for which status and scopes, the forms'
checks, SLA clocks as countdowns, vendor cases with their deliveries, and an escaped timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tierline_console.incident_view import (
    ACTIONS,
    available_actions,
    check_form,
    clocks,
    errors_by_field,
    timeline,
    upstream_call,
    vendor_cases,
)
from tierline_console.sessions import Identity, new_session
from tierline_console.web import environment

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WRITE = ["incidents:read", "incidents:write"]
XSS = "<script>alert(1)</script>"


def incident(**fields: Any) -> dict[str, Any]:
    return {
        "id": "0b4f8e2a-54a1-4f6e-9d1e-6a0c2b7e4f11",
        "title": "VPN down",
        "description": "",
        "service": "vpn",
        "category": "network",
        "product": None,
        "customer": None,
        "impact": "medium",
        "urgency": "medium",
        "priority": "P3",
        "type": "incident",
        "channel": "phone",
        "reporter": "r@example.com",
        "occurrences": 1,
        "status": "open",
        "hold_reason": None,
        "tier": "L1",
        "queue": "service-desk",
        "assignee": "alice",
        "vendor": None,
        "vendor_reference": None,
        "created_at": "2026-03-02T08:00:00+00:00",
        "acknowledged_at": None,
        "resolved_at": None,
        "closed_at": None,
        "resolution_code": None,
        "reopen_count": 0,
        "knowledge": [],
        "knowledge_article_used": None,
        "problem": None,
        "sla": {},
        "timeline": [],
        **fields,
    }


@pytest.mark.parametrize(
    ("status", "tier", "expected"),
    [
        ("open", "L1", ["acknowledge", "hold", "resolve", "note", "escalate", "priority"]),
        ("acknowledged", "L2", ["hold", "resolve", "note", "escalate", "de-escalate", "priority"]),
        ("on_hold", "L1", ["resume", "resolve", "note", "escalate", "priority"]),
        ("open", "L4", ["acknowledge", "hold", "resolve", "note", "de-escalate", "priority"]),
        ("open", None, ["acknowledge", "hold", "resolve", "note", "priority"]),
        ("resolved", "L2", ["reopen", "close", "note"]),
        ("closed", "L2", ["note"]),
    ],
)
def test_actions_follow_the_status_and_the_tier(status: str, tier: str | None, expected: list[str]) -> None:
    assert available_actions(incident(status=status, tier=tier), WRITE) == expected


@pytest.mark.parametrize("scopes", [["incidents:read"], [], ["reports:read", "incidents:read"]])
def test_a_key_without_write_sees_no_actions(scopes: list[str]) -> None:
    for status in ("open", "acknowledged", "on_hold", "resolved", "closed"):
        assert available_actions(incident(status=status), scopes) == []


def test_admin_holds_every_scope() -> None:
    assert "acknowledge" in available_actions(incident(), ["admin"])


def test_every_action_is_a_verb_on_its_owning_service() -> None:
    iid = "x"
    assert upstream_call("acknowledge", iid) == ("intake", "POST", "/v1/incidents/x/acknowledge")
    assert upstream_call("note", iid) == ("intake", "POST", "/v1/incidents/x/notes")
    assert upstream_call("priority", iid) == ("intake", "PATCH", "/v1/incidents/x")
    assert upstream_call("escalate", iid) == ("router", "POST", "/v1/incidents/x/escalate")
    assert upstream_call("de-escalate", iid) == ("router", "POST", "/v1/incidents/x/de-escalate")
    assert {a.upstream for a in ACTIONS.values()} == {"intake", "router"}
    assert [a.verb for a in ACTIONS.values()][:4] == ["Acknowledge", "Hold", "Resume", "Resolve"]


def test_escalation_needs_a_note_and_de_escalation_a_lower_tier() -> None:
    assert check_form("escalate", {"note": "  "}, "alice").errors == {"note": "required"}
    assert check_form("escalate", {"note": "VIP"}, "alice").body == {"note": "VIP"}
    bad = check_form("de-escalate", {"note": "easy", "to_tier": "L4"}, "alice")
    assert bad.errors == {"to_tier": "choose one of L1, L2, L3"}
    good = check_form("de-escalate", {"note": "easy", "to_tier": ""}, "alice")
    assert good.errors == {} and good.body == {"note": "easy"}


def test_forms_are_checked_by_field() -> None:
    hold = check_form("hold", {"reason": "lunch", "note": "x" * 5001}, "alice")
    assert set(hold.errors) == {"reason", "note"}
    ok = check_form("hold", {"reason": "awaiting_vendor", "note": "case 12"}, "alice")
    assert ok.body == {"reason": "awaiting_vendor", "note": "case 12", "by": "alice"}
    assert check_form("priority", {"priority": "P0"}, "alice").errors == {
        "priority": "choose one of P1, P2, P3, P4"
    }
    assert check_form("note", {}, "alice").errors == {"text": "required"}
    assert check_form("note", {"text": "called back"}, "alice").body == {
        "text": "called back",
        "author": "alice",
    }
    resolve = check_form(
        "resolve", {"resolution_code": "fixed", "note": "", "knowledge_article": "kb/1"}, "a"
    )
    assert resolve.body == {"resolution_code": "fixed", "knowledge_article": "kb/1", "by": "a"}
    assert check_form("acknowledge", {}, "b" * 400).body == {"by": "b" * 320}


def test_upstream_errors_split_by_the_forms_fields() -> None:
    by_field, rest = errors_by_field(["note: too long", "body: bad", "nonsense"], ["note", "reason"])
    assert by_field == {"note": "too long"}
    assert rest == ["body: bad", "nonsense"]


def test_clocks_count_down_like_the_boards() -> None:
    sla = {
        "resolution": {
            "state": "running",
            "due_at": (T0 + timedelta(hours=2)).isoformat(),
            "breached": False,
            "warning_threshold": 0.75,
            "last_warning": False,
        },
        "response": {"state": "met", "met_at": "2026-03-02T08:10:00+00:00", "breached": False},
        "tier": {
            "state": "breached",
            "due_at": (T0 - timedelta(minutes=5)).isoformat(),
            "breached": True,
            "tier": "L1",
        },
        "vendor_response": {"state": "paused", "due_at": None, "remaining_seconds": 600.0, "breached": False},
        "vendor_resolution": {"state": "cancelled", "breached": False},
    }
    rows = clocks(sla, T0)
    assert [r.kind for r in rows] == [
        "response",
        "resolution",
        "tier",
        "vendor_response",
        "vendor_resolution",
    ]
    response, resolution, tier, vendor, cancelled = rows
    assert response.countdown is None and response.ended == "met 02 Mar 2026 08:10 UTC"
    assert resolution.countdown is not None
    assert (resolution.countdown.text, resolution.countdown.level) == ("2h 00m", "amber")
    assert tier.name == "Tier budget (L1)"
    assert tier.countdown is not None and tier.countdown.level == "red" and tier.countdown.text == "-5m 00s"
    assert vendor.countdown is not None and vendor.countdown.paused and vendor.countdown.text == "10m 00s"
    assert cancelled.countdown is None and cancelled.ended == "cancelled"
    assert clocks(None, T0) == []


def test_vendor_cases_carry_only_their_own_deliveries() -> None:
    cases = [{"id": "c1", "vendor": "acme"}, {"id": "c2", "vendor": "acme"}]
    deliveries = [
        {"id": "d2", "case_id": "c1", "created_at": "2026-03-02T09:05:00+00:00"},
        {"id": "d1", "case_id": "c1", "created_at": "2026-03-02T09:00:00+00:00"},
        {"id": "dx", "case_id": "other", "created_at": "2026-03-02T09:00:00+00:00"},
    ]
    found = vendor_cases(cases, deliveries)
    assert [[d["id"] for d in vc.deliveries] for vc in found] == [["d1", "d2"], []]


def test_the_timeline_is_newest_first_and_rendered_as_text() -> None:
    items = [
        {
            "at": "2026-03-02T08:00:00+00:00",
            "kind": "created",
            "summary": "Created",
            "source": "intake",
            "data": {},
        },
        {
            "at": "2026-03-02T08:30:00+00:00",
            "kind": "note",
            "summary": f"Note by {XSS}",
            "source": "intake",
            "data": {},
        },
    ]
    entries = timeline(items)
    assert [e["kind"] for e in entries] == ["note", "created"]
    assert entries[0]["when"] == "02 Mar 2026 08:30 UTC"
    html = (
        environment()
        .get_template("incident_detail.html")
        .render(
            incident=incident(
                title=XSS,
                description=XSS,
                reporter=XSS,
                knowledge=[{"title": XSS, "url": "javascript:alert(1)"}],
            ),
            clocks=[],
            timeline=entries,
            cases=[],
            vendor_note=None,
            when=lambda v: v,
        )
    )
    assert "Note by &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS not in html
    assert 'href="javascript:' not in html  # a knowledge link that is not http(s) is text


def test_the_actions_fragment_shows_buttons_and_a_refusal_by_field() -> None:
    session = new_session("k", Identity(id="1", name="alice", scopes=WRITE), T0)
    context = {
        "incident": incident(status="acknowledged", tier="L2"),
        "actions": available_actions(incident(status="acknowledged", tier="L2"), WRITE),
        "catalog": ACTIONS,
        "hold_reasons": {"awaiting_customer": "Awaiting the customer"},
        "lower_tiers": ("L1",),
        "priorities": ("P1", "P2", "P3", "P4"),
        "notice": None,
        "failed": "escalate",
        "message": f"Escalate was refused by router: {XSS}",
        "field_errors": {"note": "required"},
        "other_errors": [],
        "values": {"note": XSS},
        "session": session,
    }
    context["idempotency_keys"] = {name: f"key-of-{name}" for name in context["actions"]}
    html = environment().get_template("incident_actions.html").render(**context)
    for verb in ("Hold", "Resolve", "Add note", "Escalate", "De-escalate", "Change priority"):
        assert f">{verb}</button>" in html
    assert ">Acknowledge</button>" not in html  # already acknowledged
    assert 'id="err-escalate-note"' in html and 'aria-describedby="err-escalate-note"' in html
    assert XSS not in html and "&lt;script&gt;" in html
    assert html.count(f'value="{session.csrf_token}"') == html.count("<form")
    for name in context["actions"]:  # each form its own key: a double submit acts once
        assert f'name="idempotency_key" value="key-of-{name}"' in html
    # escalate and de-escalate say the tier the page showed; the router refuses them elsewhere
    assert html.count('name="from_tier" value="L2"') == 2
