"""A vendor's webhook receiver for the end-to-end test: verifies every signature independently."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    signature_valid: bool


@dataclass
class VendorReceiver:
    secret: str
    reference: str = "ACME-4711"
    received: list[Received] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/tierline/cases")
        async def case(request: Request) -> JSONResponse:
            raw = await request.body()
            headers = dict(request.headers)
            try:
                Webhook(self.secret).verify(raw, headers)
                valid = True
            except WebhookVerificationError:
                valid = False
            self.received.append(Received(headers, json.loads(raw), valid))
            if not valid:
                return JSONResponse({"error": "bad signature"}, status_code=401)
            return JSONResponse({"reference": self.reference}, status_code=202)

        return app


class ServerThread:
    """Runs a uvicorn server in a thread, with a clean stop."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("vendor receiver did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
