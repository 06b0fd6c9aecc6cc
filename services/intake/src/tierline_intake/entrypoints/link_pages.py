"""The pages a person sees when they open a link from a notification: small, self-contained HTML.

No external assets and no script; every value is escaped. A confirmation page holds a form that
posts back to the same address (the link's token is its credential), so opening the link alone
changes nothing; the answer to that post and every refusal are pages too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from tierline_intake.domain.incident import Incident
from tierline_intake.service_layer.links import SCORES, LinkView

# Sent with every page: nothing to load from elsewhere, no framing (a button that acts must not be
# clickjacked), the token never leaves in a Referer, and no cache keeps it.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "color:#1b1f24;line-height:1.5}h1{font-size:1.4rem}.meta{color:#57606a}"
    "button{font-size:1rem;padding:.5rem 1.2rem;margin-top:1rem;cursor:pointer}"
    "fieldset{border:0;padding:0}label{margin-right:1rem}textarea{width:100%;min-height:4rem}"
)
_SCORE_WORDS = {1: "very unhappy", 2: "unhappy", 3: "neutral", 4: "happy", 5: "very happy"}


def page(title: str, body: str) -> str:
    """A whole document around ``body`` (HTML already escaped by the caller) under ``title``."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Tierline</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def _about(incident: Incident) -> str:
    return (
        f"<p><strong>{escape(incident.title)}</strong></p>"
        f'<p class="meta">{escape(incident.priority)} · {escape(incident.service)} · '
        f"now {escape(incident.status.value.replace('_', ' '))} · incident {escape(str(incident.id))}</p>"
    )


def confirm(view: LinkView, *, preselect: int | None = None) -> str:
    """The page a link opens: what it would do, and the one form that does it."""
    incident, claim = view.incident, view.claim
    if claim.purpose == "acknowledge":
        who = f" as <strong>{escape(claim.person)}</strong>" if claim.person else ""
        return page(
            "Acknowledge this incident?",
            f"{_about(incident)}<p>Acknowledging tells everyone you are on it{who}.</p>"
            '<form method="post"><button type="submit">Acknowledge</button></form>',
        )
    choices = "".join(
        f'<label><input type="radio" name="score" value="{n}" required'
        f"{' checked' if n == preselect else ''}> {n} ({_SCORE_WORDS[n]})</label>"
        for n in SCORES
    )
    return page(
        "How did we do?",
        f"{_about(incident)}<p>Tell us how the handling of your ticket felt, from 1 to 5.</p>"
        f'<form method="post"><fieldset><legend>Your score</legend>{choices}</fieldset>'
        '<p><label for="comment">Anything to add? (optional)</label><br>'
        '<textarea id="comment" name="comment" maxlength="5000"></textarea></p>'
        '<button type="submit">Send</button></form>',
    )


def done(view: LinkView) -> str:
    """The answer once the link acted."""
    incident, claim = view.incident, view.claim
    if claim.purpose == "acknowledge":
        by = f" by {escape(claim.person)}" if claim.person else ""
        return page("Acknowledged", f"{_about(incident)}<p>The incident is acknowledged{by}. Thank you.</p>")
    score = incident.csat_score
    return page(
        "Thank you",
        f"{_about(incident)}<p>Your score of {escape(str(score))} was recorded. It helps us do better.</p>",
    )


def refusal(title: str, detail: str, errors: Iterable[Mapping[str, Any]] = ()) -> str:
    """Why the link did nothing (expired, used, not valid, not possible now, bad score …)."""
    listed = "".join(
        f"<li>{escape(str(e.get('field', '')))}: {escape(str(e.get('reason', '')))}</li>" for e in errors
    )
    return page(title, f"<p>{escape(detail)}</p>" + (f"<ul>{listed}</ul>" if listed else ""))
