"""A vendor simulator: receives Tierline's L4 handoffs, verifies them, misbehaves on request, calls back.

Vendors building a receiver can run it to see exactly what Tierline sends; Tierline's own
end-to-end tests use it as the vendor. Run it:

    python -m tierline_launcher.vendor_simulator --port 9100 \\
        --webhook-secret whsec_... --callback-secret whsec_... --vendor acme-networks

and point the vendor's ``webhook_url`` at http://127.0.0.1:9100/tierline/cases. Tell it how to
answer with ``POST /control`` (JSON body, every field optional):

    {"mode": "ok" | "fail" | "stall" | "gone" | "throttle", "times": 2,
     "stall_seconds": 15, "retry_after": 5, "callbacks": ["acknowledged", "resolved"]}

``times`` limits the mode to that many deliveries, after which it answers "ok" again;
``callbacks`` are sent, signed with the callback secret, to the ``callback_url`` of each case
it accepts (once per ``webhook-id``, as a receiver dedupes) and outlast ``times``: with
``{"mode": "throttle", "times": 2, "callbacks": ["acknowledged", "resolved"]}`` the delivery
accepted after the two 429s is called back. Each ``POST /control`` replaces the previous one.
``GET /received`` lists what arrived and whether each signature verified.

Secrets must be real Standard Webhooks secrets; the simulator refuses to start with another
(such as a documentation placeholder). Make one with:

    python3 -c "import base64, secrets; print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())"
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from standardwebhooks import Webhook, WebhookVerificationError

Mode = Literal["ok", "fail", "stall", "gone", "throttle"]
Action = Literal["acknowledged", "updated", "resolved", "rejected"]
MAKE_A_SECRET = (
    'python3 -c "import base64, secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
)


def check_secret(value: str) -> str:
    """A Standard Webhooks secret: whsec_ and the base64 of 24 to 64 bytes; ValueError saying what is wrong.

    The gateway checks its secrets the same way; the simulator has its own copy because its image
    carries only the launcher, not the gateway.
    """
    if not value.startswith("whsec_"):
        raise ValueError("it does not start with whsec_")
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except ValueError:  # binascii.Error, or characters outside ASCII (a placeholder's "…")
        raise ValueError("what follows whsec_ is not base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"it holds {len(key)} bytes, not 24 to 64")
    return value


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode = "ok"
    times: int | None = Field(default=None, ge=1, description="Deliveries this mode lasts; then ok again")
    stall_seconds: float = Field(default=15.0, ge=0, le=600)
    retry_after: int = Field(default=5, ge=0, le=86400)
    callbacks: list[Action] = Field(default_factory=list)


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    signature_valid: bool
    answered: int = 0


@dataclass
class VendorSimulator:
    """The simulator's state; ``app()`` is its HTTP face."""

    secret: str | list[str]
    callback_secret: str | None = None
    vendor: str = "acme-networks"
    reference: str = "ACME-4711"
    received: list[Received] = field(default_factory=list)
    control: Control = field(default_factory=Control)
    callbacks_sent: list[dict[str, Any]] = field(default_factory=list)
    called_back: set[str] = field(default_factory=set)  # webhook-ids whose case was called back

    def __post_init__(self) -> None:
        for secret in [self.secret] if isinstance(self.secret, str) else self.secret:
            check_secret(secret)
        if self.callback_secret is not None:
            check_secret(self.callback_secret)

    def verifies(self, raw: bytes, headers: dict[str, str]) -> bool:
        """Any of our secrets verifies one of the signatures (Tierline signs with each secret it rotates)."""
        for secret in [self.secret] if isinstance(self.secret, str) else self.secret:
            try:
                Webhook(secret).verify(raw, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    def _next_mode(self) -> Control:
        """The instructions for this delivery; a mode limited by ``times`` gives way to ok, callbacks kept."""
        current = self.control
        if current.times is not None:
            left = current.times - 1
            self.control = (
                current.model_copy(update={"times": left})
                if left > 0
                else Control(callbacks=current.callbacks)
            )
        return current

    async def call_back(self, case: dict[str, Any], actions: list[str]) -> None:
        """Send each action to the case's callback URL, signed with our callback secret."""
        if not self.callback_secret:
            return
        async with httpx.AsyncClient(timeout=10) as client:
            for action in actions:
                body = {"case_id": case["case_id"], "action": action, "reference": self.reference}
                if action == "resolved":
                    body["resolution"] = "Fixed by the simulator"
                elif action == "rejected":
                    body["note"] = "Not covered by our contract"
                raw = json.dumps(body).encode()
                message_id = f"msg_{uuid.uuid4().hex}"
                signature = Webhook(self.callback_secret).sign(message_id, datetime.now(UTC), raw.decode())
                headers = {
                    "webhook-id": message_id,
                    "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
                    "webhook-signature": signature,
                    "content-type": "application/json",
                }
                response = await client.post(case["callback_url"], content=raw, headers=headers)
                self.callbacks_sent.append({"action": action, "status": response.status_code})

    def app(self) -> FastAPI:
        app = FastAPI(title="Tierline vendor simulator")

        @app.post("/tierline/cases")
        async def case(request: Request) -> JSONResponse:
            raw = await request.body()
            headers = dict(request.headers)
            valid = self.verifies(raw, headers)
            entry = Received(headers, json.loads(raw) if raw else {}, valid)
            self.received.append(entry)
            if not valid:
                entry.answered = 401
                return JSONResponse({"error": "bad signature"}, status_code=401)
            mode = self._next_mode()
            if mode.mode == "fail":
                entry.answered = 500
                return JSONResponse({"error": "simulated failure"}, status_code=500)
            if mode.mode == "gone":
                entry.answered = 410
                return JSONResponse({"error": "this endpoint is gone"}, status_code=410)
            if mode.mode == "throttle":
                entry.answered = 429
                return JSONResponse(
                    {"error": "slow down"}, status_code=429, headers={"retry-after": str(mode.retry_after)}
                )
            if mode.mode == "stall":
                await asyncio.sleep(mode.stall_seconds)
            entry.answered = 202
            message_id = headers.get("webhook-id", "")
            if (
                mode.callbacks
                and isinstance(entry.body.get("data"), dict)
                and message_id not in self.called_back
            ):
                self.called_back.add(message_id)  # a retry or replay of an accepted message is not news
                task = asyncio.create_task(self.call_back(entry.body["data"], list(mode.callbacks)))
                app.state.tasks = {*getattr(app.state, "tasks", set()), task}
            return JSONResponse({"reference": self.reference}, status_code=202)

        @app.post("/control")
        async def control(body: Control) -> Control:
            self.control = body
            return body

        @app.get("/received")
        async def received() -> list[dict[str, Any]]:
            return [
                {
                    "webhook_id": r.headers.get("webhook-id"),
                    "signature_valid": r.signature_valid,
                    "answered": r.answered,
                    "body": r.body,
                }
                for r in self.received
            ]

        return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tierline-vendor-simulator", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--webhook-secret", action="append", required=True, help="whsec_...; repeat to rotate"
    )
    parser.add_argument("--callback-secret", default=None, help="whsec_... to sign callbacks with")
    parser.add_argument("--vendor", default="acme-networks")
    args = parser.parse_args(argv)
    named = [("--webhook-secret", s) for s in args.webhook_secret]
    named += [("--callback-secret", args.callback_secret)] if args.callback_secret is not None else []
    for option, secret in named:
        try:
            check_secret(secret)
        except ValueError as exc:  # one line, never the secret itself
            parser.exit(
                2,
                f"{parser.prog}: {option} is not a Standard Webhooks secret ({exc}); make one with: "
                f"{MAKE_A_SECRET}\n",
            )
    simulator = VendorSimulator(
        secret=args.webhook_secret, callback_secret=args.callback_secret, vendor=args.vendor
    )
    uvicorn.run(simulator.app(), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
