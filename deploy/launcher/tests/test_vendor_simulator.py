"""The vendor simulator: verifies what Tierline signs, misbehaves on request, calls back signed."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from standardwebhooks import Webhook

from tierline_launcher.procs import free_port
from tierline_launcher.vendor_simulator import VendorSimulator, main
from tierline_shared.testing import ServerThread, eventually


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _signed(secret_list: list[str], body: dict, message_id: str = "msg_1") -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    now = datetime.now(UTC)
    signature = " ".join(Webhook(s).sign(message_id, now, raw.decode()) for s in secret_list)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return raw, headers


async def test_modes_answer_as_told_for_as_many_deliveries_then_ok_again() -> None:
    secret = _secret()
    sim = VendorSimulator(secret=secret)
    transport = httpx.ASGITransport(app=sim.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        raw, headers = _signed([secret], {"type": "case.opened", "data": {}})
        answers = []
        for control in (
            {"mode": "fail", "times": 2},
            {"mode": "gone", "times": 1},
            {"mode": "throttle", "times": 1},
        ):
            (await client.post("/control", json=control)).raise_for_status()
            for _ in range(control["times"]):
                response = await client.post("/tierline/cases", content=raw, headers=headers)
                answers.append((response.status_code, response.headers.get("retry-after")))
        answers.append(
            ((await client.post("/tierline/cases", content=raw, headers=headers)).status_code, None)
        )
        assert answers == [(500, None), (500, None), (410, None), (429, "5"), (202, None)]
        forged = {**headers, "webhook-signature": _signed([_secret()], {"x": 1})[1]["webhook-signature"]}
        assert (await client.post("/tierline/cases", content=raw, headers=forged)).status_code == 401
        log = (await client.get("/received")).json()
        assert [e["signature_valid"] for e in log] == [True] * 5 + [False]
        assert (await client.post("/control", json={"mode": "sideways"})).status_code == 422


async def test_rotation_any_signature_made_with_a_known_secret_verifies() -> None:
    old, new = _secret(), _secret()
    sim = VendorSimulator(secret=[new])
    raw, headers = _signed([old, new], {"data": {}})  # Tierline mid-rotation: one signature per secret
    assert sim.verifies(raw, headers)
    assert not VendorSimulator(secret=[_secret()]).verifies(raw, headers)


@dataclass
class CallbackReceiver:
    """Tierline's callback endpoint, standing in: records each callback and whether its signature verified."""

    secret: str
    url: str = ""
    got: list[tuple[dict, bool]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/vendors/acme/callbacks")
        async def callback(request: Request) -> dict:
            raw = await request.body()
            try:
                Webhook(self.secret).verify(raw, dict(request.headers))
                valid = True
            except Exception:  # noqa: BLE001 - any failure is an invalid signature here
                valid = False
            self.got.append((json.loads(raw), valid))
            return {"status": "accepted"}

        return app

    def actions(self) -> list[tuple[str, str, bool]]:
        return [(body["action"], body["case_id"], valid) for body, valid in self.got]


@pytest.fixture
def callbacks() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver(_secret())
    port = free_port()
    receiver.url = f"http://127.0.0.1:{port}/v1/vendors/acme/callbacks"
    with ServerThread(receiver.app(), port):
        yield receiver


def _case(case_id: str, callbacks: CallbackReceiver) -> dict:
    return {"type": "case.opened", "data": {"case_id": case_id, "callback_url": callbacks.url}}


async def test_accepted_cases_are_called_back_signed_with_the_callback_secret(
    callbacks: CallbackReceiver,
) -> None:
    secret = _secret()
    sim = VendorSimulator(secret=secret, callback_secret=callbacks.secret, reference="ACME-1")
    transport = httpx.ASGITransport(app=sim.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        await client.post("/control", json={"callbacks": ["acknowledged", "resolved"]})
        raw, headers = _signed([secret], _case("c-1", callbacks))
        response = await client.post("/tierline/cases", content=raw, headers=headers)
        assert (response.status_code, response.json()) == (202, {"reference": "ACME-1"})
        # the simulator notes each answer after the receiver has recorded the callback: wait for both
        await eventually(lambda: len(sim.callbacks_sent) == 2 or None, timeout=10, what="two callbacks")
    assert callbacks.actions() == [("acknowledged", "c-1", True), ("resolved", "c-1", True)]
    assert callbacks.got[1][0]["resolution"] and sim.callbacks_sent == [
        {"action": "acknowledged", "status": 200},
        {"action": "resolved", "status": 200},
    ]


async def test_throttled_deliveries_keep_their_callbacks_for_the_delivery_that_succeeds(
    callbacks: CallbackReceiver,
) -> None:
    secret = _secret()
    sim = VendorSimulator(secret=secret, callback_secret=callbacks.secret)
    transport = httpx.ASGITransport(app=sim.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        control = {"mode": "throttle", "times": 2, "callbacks": ["acknowledged", "resolved"]}
        (await client.post("/control", json=control)).raise_for_status()
        raw, headers = _signed([secret], _case("c-1", callbacks), "msg_c1")  # Tierline retrying one message
        answers = [
            (await client.post("/tierline/cases", content=raw, headers=headers)).status_code for _ in range(3)
        ]
        assert answers == [429, 429, 202]
        await eventually(lambda: len(callbacks.got) == 2 or None, timeout=10, what="the case's callbacks")
        assert callbacks.actions() == [("acknowledged", "c-1", True), ("resolved", "c-1", True)]

        # the callbacks outlast the throttle: the next case is called back too
        raw, headers = _signed([secret], _case("c-2", callbacks), "msg_c2")
        assert (await client.post("/tierline/cases", content=raw, headers=headers)).status_code == 202
        await eventually(
            lambda: len(callbacks.got) == 4 or None, timeout=10, what="the next case's callbacks"
        )
        assert callbacks.actions()[2:] == [("acknowledged", "c-2", True), ("resolved", "c-2", True)]
        assert [e["answered"] for e in (await client.get("/received")).json()] == [429, 429, 202, 202]


async def test_a_message_accepted_again_is_not_called_back_again(callbacks: CallbackReceiver) -> None:
    """A retry or replay carries the same webhook-id: a receiver dedupes on it, and so does the simulator."""
    secret = _secret()
    sim = VendorSimulator(secret=secret, callback_secret=callbacks.secret)
    app = sim.app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        await client.post("/control", json={"callbacks": ["acknowledged"]})
        raw, headers = _signed([secret], _case("c-1", callbacks), "msg_once")
        for _ in range(2):
            assert (await client.post("/tierline/cases", content=raw, headers=headers)).status_code == 202
        raw, headers = _signed([secret], _case("c-2", callbacks), "msg_next")
        assert (await client.post("/tierline/cases", content=raw, headers=headers)).status_code == 202
        assert len(app.state.tasks) == 2, "callbacks were started for two messages, not three deliveries"
        await eventually(
            lambda: len(sim.callbacks_sent) == 2 or None, timeout=10, what="one callback per message"
        )
    assert sorted(callbacks.actions()) == [("acknowledged", "c-1", True), ("acknowledged", "c-2", True)]
    assert sim.callbacks_sent == [{"action": "acknowledged", "status": 200}] * 2


async def test_a_new_control_replaces_the_callbacks_too() -> None:
    sim = VendorSimulator(secret=_secret())
    transport = httpx.ASGITransport(app=sim.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        await client.post("/control", json={"mode": "fail", "times": 1, "callbacks": ["resolved"]})
        assert sim.control.callbacks == ["resolved"]
        await client.post("/control", json={"mode": "gone", "times": 1})
    assert sim.control.callbacks == []


PLACEHOLDER = "whsec_\u2026"  # the README's "whsec_…"
MAKE_ONE = (
    'python3 -c "import base64, secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (PLACEHOLDER, "what follows whsec_ is not base64"),
        ("whsec_...", "what follows whsec_ is not base64"),
        ("s3cr3t", "it does not start with whsec_"),
        ("whsec_" + base64.b64encode(b"x" * 16).decode(), "it holds 16 bytes, not 24 to 64"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "it holds 65 bytes, not 24 to 64"),
    ],
)
@pytest.mark.parametrize("option", ["--webhook-secret", "--callback-secret"])
def test_an_invalid_secret_is_refused_at_start_with_one_line_saying_how_to_make_one(
    capsys: pytest.CaptureFixture[str], option: str, secret: str, why: str
) -> None:
    good = _secret()
    argv = ["--webhook-secret", good, "--callback-secret", good]
    argv[argv.index(option) + 1] = secret
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    why_line = f"tierline-vendor-simulator: {option} is not a Standard Webhooks secret ({why})"
    assert err == f"{why_line}; make one with: {MAKE_ONE}\n"
    assert secret not in err, "the secret is not echoed"


def test_the_suggested_command_makes_a_secret_the_simulator_takes() -> None:
    code = MAKE_ONE.removeprefix('python3 -c "').removesuffix('"')
    made = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    secret = made.stdout.strip()
    assert VendorSimulator(secret=secret, callback_secret=secret).secret == secret


def test_a_simulator_is_not_built_with_an_invalid_secret() -> None:
    with pytest.raises(ValueError, match="not base64"):
        VendorSimulator(secret=PLACEHOLDER)
    with pytest.raises(ValueError, match="does not start with whsec_"):
        VendorSimulator(secret=[_secret(), "nope"])
    with pytest.raises(ValueError, match="16 bytes"):
        VendorSimulator(secret=_secret(), callback_secret="whsec_" + base64.b64encode(b"x" * 16).decode())
