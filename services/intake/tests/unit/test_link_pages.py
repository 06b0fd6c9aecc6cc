"""The pages a link from a notification opens, and what a link would do (pure, no I/O)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tierline_intake.domain.incident import Incident
from tierline_intake.domain.priority import PriorityDecision
from tierline_intake.entrypoints import link_pages
from tierline_intake.service_layer.links import LinkView
from tierline_shared.links import LinkClaim

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HOSTILE = "<script>alert(\"x\")</script> & 'quotes'"


def incident(title: str = "VPN down") -> Incident:
    return Incident.create(
        id=uuid.uuid4(),
        title=title,
        description="",
        service="vpn",
        category="network",
        channel="web",
        reporter="alice@example.com",
        decision=PriorityDecision("P2", "matrix"),
        now=T0,
    )


def view(purpose: str, *, title: str = "VPN down", person: str | None = "alice") -> LinkView:
    subject = incident(title)
    claim = LinkClaim(
        purpose=purpose,  # type: ignore[arg-type]
        incident_id=subject.id,
        person=person,
        nonce="n-1",
        expires_at=T0 + timedelta(hours=1),
    )
    return LinkView(claim, subject)


def self_contained(html: str) -> None:
    """No script, nothing loaded from elsewhere, and a form (if any) posting back to this address."""
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)\s*=", html, re.IGNORECASE)
    assert "action=" not in html  # the form posts to the link's own address
    assert html.startswith("<!doctype html>")


def test_an_acknowledge_page_shows_the_incident_and_one_button_that_posts() -> None:
    html = link_pages.confirm(view("acknowledge"))
    self_contained(html)
    assert "VPN down" in html and "P2" in html and "as <strong>alice</strong>" in html
    assert html.count("<form") == 1 and 'method="post"' in html
    assert re.findall(r"<button[^>]*>([^<]*)</button>", html) == ["Acknowledge"]


def test_a_csat_page_offers_the_five_scores_and_preselects_the_one_asked() -> None:
    html = link_pages.confirm(view("csat"), preselect=4)
    self_contained(html)
    assert "How did we do?" in html
    radios = re.findall(r'<input type="radio" name="score" value="(\d)" required( checked)?>', html)
    assert radios == [("1", ""), ("2", ""), ("3", ""), ("4", " checked"), ("5", "")]


def test_a_csat_page_without_a_score_preselects_none() -> None:
    assert " checked" not in link_pages.confirm(view("csat"))


@pytest.mark.parametrize("purpose", ["acknowledge", "csat"])
def test_everything_shown_is_escaped(purpose: str) -> None:
    html = link_pages.confirm(view(purpose, title=HOSTILE, person=HOSTILE))
    self_contained(html)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;quotes&#x27;" in html


def test_the_answers_say_what_happened() -> None:
    acknowledged = view("acknowledge")
    acknowledged.incident.acknowledge(by="alice", now=T0)
    assert "The incident is acknowledged by alice" in link_pages.done(acknowledged)
    rated = view("csat")
    rated.incident.csat_score = 4
    assert "Your score of 4 was recorded" in link_pages.done(rated)


def test_a_refusal_says_why_and_lists_the_fields_escaped() -> None:
    html = link_pages.refusal(
        "This link has expired", "It expired <then>.", [{"field": "score", "reason": HOSTILE}]
    )
    self_contained(html)
    assert "<h1>This link has expired</h1>" in html and "It expired &lt;then&gt;." in html
    assert "<li>score: &lt;script&gt;" in html


def test_pages_cannot_be_framed_nor_leak_the_token() -> None:
    assert "frame-ancestors 'none'" in link_pages.HEADERS["Content-Security-Policy"]
    assert link_pages.HEADERS["Referrer-Policy"] == "no-referrer"
    assert link_pages.HEADERS["Cache-Control"] == "no-store"
