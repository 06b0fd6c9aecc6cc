"""A vendor's webhook receiver for the end-to-end test: verifies every signature independently."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

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
