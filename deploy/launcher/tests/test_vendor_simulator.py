"""The vendor simulator: verifies what Tierline signs, misbehaves on request, calls back signed."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI, Request
from standardwebhooks import Webhook

from tierline_launcher.procs import free_port
from tierline_launcher.vendor_simulator import VendorSimulator
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


async def test_accepted_cases_are_called_back_signed_with_the_callback_secret() -> None:
    secret, callback_secret = _secret(), _secret()
    got: list[tuple[dict, bool]] = []
    receiver = FastAPI()

    @receiver.post("/v1/vendors/acme/callbacks")
    async def callback(request: Request) -> dict:
        raw = await request.body()
        try:
            Webhook(callback_secret).verify(raw, dict(request.headers))
            valid = True
        except Exception:  # noqa: BLE001 - any failure is an invalid signature here
            valid = False
        got.append((json.loads(raw), valid))
        return {"status": "accepted"}

    port = free_port()
    sim = VendorSimulator(secret=secret, callback_secret=callback_secret, reference="ACME-1")
    transport = httpx.ASGITransport(app=sim.app())
    with ServerThread(receiver, port):
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            await client.post("/control", json={"callbacks": ["acknowledged", "resolved"]})
            case = {"case_id": "c-1", "callback_url": f"http://127.0.0.1:{port}/v1/vendors/acme/callbacks"}
            raw, headers = _signed([secret], {"type": "case.opened", "data": case})
            response = await client.post("/tierline/cases", content=raw, headers=headers)
            assert (response.status_code, response.json()) == (202, {"reference": "ACME-1"})
            await eventually(lambda: len(got) == 2 or None, timeout=10, what="two callbacks")
    assert [(body["action"], body["case_id"], valid) for body, valid in got] == [
        ("acknowledged", "c-1", True),
        ("resolved", "c-1", True),
    ]
    assert got[1][0]["resolution"] and sim.callbacks_sent == [
        {"action": "acknowledged", "status": 200},
        {"action": "resolved", "status": 200},
    ]
