"""A vendor's callbacks on the real PostgreSQL: each action's event and case status, finality, dedupe."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tierline_shared.errors import Conflict, NotFound
from tierline_shared.events import (
    VendorCaseAcknowledged,
    VendorCaseOpened,
    VendorCaseRejected,
    VendorCaseResolved,
    VendorCaseUpdated,
)
from tierline_vendor_gateway.adapters.orm import CaseRow, DeliveryRow
from tierline_vendor_gateway.adapters.sender import AttemptResult
from tierline_vendor_gateway.service_layer import callbacks, deliveries

pytestmark = pytest.mark.integration


async def open_delivered_case(gateway, reference: str | None = "ACME-1") -> uuid.UUID:
    """A case whose delivery the vendor took (200), without HTTP: the attempt's result is recorded."""
    case_id = await gateway.open_case()
    async with gateway.sessions() as s, s.begin():
        [claimed] = await deliveries.claim_due_deliveries(
            gateway.deps.unit_of_work(s), gateway.deps, limit=1, lease=timedelta(seconds=30)
        )
    answer = f'{{"reference": "{reference}"}}' if reference else "{}"
    result = AttemptResult(200, 0.01, answer, None, None)
    assert await gateway.work(deliveries.record_attempt, claimed, result) == "delivered"
    assert (await gateway.case(case_id)).status == "open"
    return case_id


async def callback(gateway, case_id: uuid.UUID, action: str, webhook_id: str | None = None, **fields) -> bool:
    gateway.clock.advance(timedelta(seconds=1))
    return await gateway.work(
        callbacks.apply_callback,
        "acme",
        webhook_id or f"msg_{uuid.uuid4().hex}",
        callbacks.Callback(case_id=case_id, action=action, **fields),
    )


async def last_event(gateway):
    return (await gateway.events())[-1]


async def test_acknowledged(gateway) -> None:
    case_id = await open_delivered_case(gateway)
    assert await callback(gateway, case_id, "acknowledged", note="on it")
    event = await last_event(gateway)
    assert isinstance(event, VendorCaseAcknowledged)
    assert (event.case_id, event.vendor, event.vendor_reference, event.note) == (
        case_id,
        "acme",
        "ACME-1",
        "on it",
    )
    assert event.acknowledged_at == gateway.clock.now()
    case = await gateway.case(case_id)
    assert (case.status, case.updated_at) == ("acknowledged", gateway.clock.now())


async def test_updated_keeps_the_case_open_and_carries_the_vendors_status(gateway) -> None:
    case_id = await open_delivered_case(gateway, reference=None)
    assert await callback(
        gateway, case_id, "updated", status="waiting_for_parts", note="ETA 2d", reference="R-7"
    )
    event = await last_event(gateway)
    assert isinstance(event, VendorCaseUpdated)
    assert (event.status, event.note, event.vendor_reference) == ("waiting_for_parts", "ETA 2d", "R-7")
    assert event.updated_at == gateway.clock.now()
    case = await gateway.case(case_id)
    assert (case.status, case.vendor_reference) == ("open", "R-7")

    assert await callback(gateway, case_id, "updated", note="no status given")
    event = await last_event(gateway)
    assert (event.status, event.vendor_reference) == ("updated", "R-7")  # a missing reference keeps ours


async def test_resolved_then_no_more_callbacks(gateway) -> None:
    case_id = await open_delivered_case(gateway)
    assert await callback(gateway, case_id, "resolved", resolution="Replaced the line card", note="n")
    event = await last_event(gateway)
    assert isinstance(event, VendorCaseResolved)
    assert (event.resolution, event.vendor_reference, event.resolved_at) == (
        "Replaced the line card",
        "ACME-1",
        gateway.clock.now(),
    )
    assert (await gateway.case(case_id)).status == "resolved"
    before = len(await gateway.events())
    for action in ("acknowledged", "updated", "resolved", "rejected"):
        with pytest.raises(Conflict) as info:
            await callback(gateway, case_id, action, note="late")
        assert info.value.status == 409
    assert len(await gateway.events()) == before
    assert (await gateway.case(case_id)).status == "resolved"


async def test_resolution_falls_back_to_the_note(gateway) -> None:
    case_id = await open_delivered_case(gateway)
    assert await callback(gateway, case_id, "resolved", note="fixed upstream")
    assert (await last_event(gateway)).resolution == "fixed upstream"


async def test_rejected_then_no_more_callbacks(gateway) -> None:
    case_id = await open_delivered_case(gateway)
    assert await callback(gateway, case_id, "rejected", note="not our hardware", reference="ACME-X")
    event = await last_event(gateway)
    assert isinstance(event, VendorCaseRejected)
    assert (event.reason, event.vendor_reference, event.rejected_at) == (
        "not our hardware",
        "ACME-X",
        gateway.clock.now(),
    )
    assert (await gateway.case(case_id)).status == "rejected"
    with pytest.raises(Conflict):
        await callback(gateway, case_id, "resolved", resolution="after all")
    with pytest.raises(Conflict):
        await callback(gateway, case_id, "rejected")


async def test_rejection_reason_falls_back_to_the_status(gateway) -> None:
    case_id = await open_delivered_case(gateway)
    assert await callback(gateway, case_id, "rejected", status="out_of_contract")
    assert (await last_event(gateway)).reason == "out_of_contract"


async def test_a_replayed_webhook_id_is_applied_once(gateway) -> None:
    case_id = await open_delivered_case(gateway)
    assert await callback(gateway, case_id, "updated", webhook_id="msg_same", note="first")
    assert not await callback(gateway, case_id, "updated", webhook_id="msg_same", note="first")
    # a different body under a seen id is ignored too: the id is what dedupes
    assert not await callback(gateway, case_id, "resolved", webhook_id="msg_same")
    kinds = [type(e) for e in await gateway.events()]
    assert kinds == [VendorCaseOpened, VendorCaseUpdated]
    assert (await gateway.case(case_id)).status == "open"


async def test_a_refused_callback_does_not_burn_its_webhook_id(gateway) -> None:
    case_id = await open_delivered_case(gateway)
    with pytest.raises(NotFound):
        await callback(gateway, uuid.uuid4(), "updated", webhook_id="msg_retry")
    # the transaction rolled back: the vendor may retry the same id for the right case
    assert await callback(gateway, case_id, "updated", webhook_id="msg_retry")


async def test_another_vendors_case_is_not_found(gateway) -> None:
    case_id = await open_delivered_case(gateway)
    with pytest.raises(NotFound):
        await gateway.work(
            callbacks.apply_callback,
            "globex",
            "msg_1",
            callbacks.Callback(case_id=case_id, action="resolved"),
        )
    assert (await gateway.case(case_id)).status == "open"


async def test_replaying_a_delivered_message_does_not_reopen_a_resolved_case(gateway) -> None:
    case_id = await open_delivered_case(gateway)
    assert await callback(gateway, case_id, "resolved", resolution="done")
    async with gateway.sessions() as s:
        delivery_id = await s.scalar(DeliveryRow.__table__.select().with_only_columns(DeliveryRow.id))
    await gateway.work(deliveries.replay, delivery_id)  # allowed: "a dead (or delivered) message"
    async with gateway.sessions() as s, s.begin():
        [claimed] = await deliveries.claim_due_deliveries(
            gateway.deps.unit_of_work(s), gateway.deps, limit=1, lease=timedelta(seconds=30)
        )
    await gateway.work(deliveries.record_attempt, claimed, AttemptResult(200, 0.01, "{}", None, None))
    async with gateway.sessions() as s:
        case = await s.get(CaseRow, case_id)
    assert case is not None
    assert (case.status, case.vendor_reference) == ("resolved", "ACME-1")
    assert [type(e) for e in await gateway.events()].count(VendorCaseOpened) == 1


async def test_a_callbacks_text_is_cleaned_before_it_is_stored_or_announced(gateway) -> None:
    case_id = await open_delivered_case(gateway)
    await callback(
        gateway, case_id, "updated", reference="ACME\u202e-9", status="wait\x1bing", note="a\x00b\nc"
    )
    event = await last_event(gateway)
    assert (event.vendor_reference, event.status, event.note) == ("ACME-9", "waiting", "ab\nc")
    assert (await gateway.case(case_id)).vendor_reference == "ACME-9"
