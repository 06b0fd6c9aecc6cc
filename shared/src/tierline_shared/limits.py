"""Request body limit as ASGI middleware: refuses oversized bodies before they are read whole."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierline_shared.errors import PayloadTooLarge
from tierline_shared.problem import problem_response


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # raised inside the app while it reads the body: its problem handler answers 413
                    raise PayloadTooLarge(
                        f"Request bodies are limited to {self.max_bytes} bytes.", max_bytes=self.max_bytes
                    )
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = problem_response(
            413,
            "Request body too large",
            f"Request bodies are limited to {self.max_bytes} bytes.",
            type_slug="payload-too-large",
            instance=scope.get("path"),
            max_bytes=self.max_bytes,
        )
        await response(scope, lambda: _empty(), send)  # type: ignore[arg-type]


async def _empty() -> Message:
    return {"type": "http.disconnect"}
