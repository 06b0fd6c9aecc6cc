"""The chaos run's L4 vendor: a webhook receiver process that sometimes fails, and records every delivery.

Each delivery of a case is answered, by a seeded draw, with a 500, a stall longer than the gateway's
timeout, or a 202; whatever the answer, one JSON line is appended to the record file (and flushed)
*before* answering: the webhook id, the SHA-256 of the body, the incident and case it is about,
whether the signature verified and the answer chosen. The verdict reads that file: one webhook id
with two different bodies is a duplicate, the same body again a harmless redelivery, an incident
escalated to L4 and never delivered is lost.

    python -m tests.chaos.vendor --port P --secret whsec_... --record deliveries.jsonl [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

PATH = "/tierline/cases"
FAIL_SHARE = 0.15  # answered 500
STALL_SHARE = 0.10  # answered only after the gateway's timeout (it sees a timeout)


def incident_of(body: Any) -> tuple[str, str]:
    """(incident id, case id) of a handoff body; empty strings where it has none."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return "", ""
    incident = data.get("incident")
    incident_id = str(incident.get("id", "")) if isinstance(incident, dict) else ""
    return incident_id, str(data.get("case_id", ""))


def make_app(*, secret: str, record: Path, seed: int, stall_seconds: float) -> web.Application:
    rng = random.Random(seed)
    webhook = Webhook(secret)
    out = record.open("a", buffering=1)

    async def case(request: web.Request) -> web.Response:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            webhook.verify(raw, headers)
            valid = True
        except WebhookVerificationError:
            valid = False
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        draw = rng.random()
        answer = (
            401
            if not valid
            else 500
            if draw < FAIL_SHARE
            else "stall"
            if draw < FAIL_SHARE + STALL_SHARE
            else 202
        )
        incident_id, case_id = incident_of(body)
        line = {
            "at": time.time(),
            "webhook_id": headers.get("webhook-id", ""),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "incident_id": incident_id,
            "case_id": case_id,
            "signature_valid": valid,
            "answer": answer,
        }
        out.write(json.dumps(line) + "\n")
        out.flush()
        os.fsync(out.fileno())
        if answer == "stall":
            await asyncio.sleep(stall_seconds)
            return web.json_response({"reference": "CHAOS-late"}, status=202)
        if answer == 202:
            return web.json_response({"reference": f"CHAOS-{case_id[:8]}"}, status=202)
        return web.json_response({"error": f"simulated {answer}"}, status=int(answer))

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post(PATH, case)
    app.router.add_get("/healthz", health)
    return app


def read_deliveries(record: Path) -> list[dict[str, Any]]:
    """Every delivery the receiver recorded (a torn last line, from a kill mid-write, is skipped)."""
    if not record.exists():
        return []
    out = []
    for line in record.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.vendor", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True, help="the webhook signing secret (whsec_...)")
    parser.add_argument("--record", type=Path, required=True, help="append every delivery here (JSON lines)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--stall-seconds", type=float, default=4.0)
    args = parser.parse_args(argv)
    app = make_app(secret=args.secret, record=args.record, seed=args.seed, stall_seconds=args.stall_seconds)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
