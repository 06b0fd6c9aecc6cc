"""The Case aggregate: a handoff's states, the callbacks it takes, and the events it returns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tierline_shared.errors import Conflict
from tierline_shared.events import (
    VendorCaseAcknowledged,
    VendorCaseOpened,
    VendorCaseRejected,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorDeliveryFailed,
)
from tierline_vendor_gateway.domain.case import Callback, Case

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)


def pending() -> Case:
    return Case.hand_off(uuid.uuid4(), uuid.uuid4(), "acme", T0)


def opened(reference: str | None = "ACME-1") -> Case:
    case = pending()
    case.open(reference, T0)
    return case


def test_a_handoff_starts_pending() -> None:
    case = pending()
    assert (case.status, case.vendor_reference, case.created_at, case.updated_at) == ("pending", None, T0, T0)
    assert not case.is_closed


def test_opening_announces_the_case_with_the_vendors_reference() -> None:
    case = pending()
    [event] = case.open("ACME-1", LATER)
    assert isinstance(event, VendorCaseOpened)
    assert (event.case_id, event.incident_id, event.vendor) == (case.id, case.incident_id, "acme")
    assert (event.vendor_reference, event.opened_at) == ("ACME-1", LATER)
    assert (case.status, case.updated_at) == ("open", LATER)


def test_a_failed_case_opens_when_its_replayed_delivery_arrives() -> None:
    case = pending()
    case.fail(3, "HTTP 500", T0)
    assert [type(e) for e in case.open(None, LATER)] == [VendorCaseOpened]
    assert case.status == "open"


@pytest.mark.parametrize("status", ["open", "acknowledged", "resolved", "rejected"])
def test_a_replayed_delivery_changes_nothing_but_the_reference(status: str) -> None:
    case = opened(reference=None)
    case.status = status
    assert case.open("ACME-9", LATER) == []
    assert (case.status, case.updated_at, case.vendor_reference) == (status, T0, "ACME-9")


def test_an_answer_without_reference_keeps_the_known_one() -> None:
    case = opened("ACME-1")
    case.status = "failed"
    case.open(None, LATER)
    assert case.vendor_reference == "ACME-1"


def test_failing_sends_the_case_back() -> None:
    case = pending()
    event = case.fail(8, "HTTP 503", LATER)
    assert isinstance(event, VendorDeliveryFailed)
    assert (event.attempts, event.last_error, event.failed_at, event.case_id) == (
        8,
        "HTTP 503",
        LATER,
        case.id,
    )
    assert (case.status, case.updated_at) == ("failed", LATER)


def test_a_retried_handoff_waits_again_only_when_failed() -> None:
    case = pending()
    case.fail(1, "x", T0)
    case.retry_handoff(LATER)
    assert (case.status, case.updated_at) == ("pending", LATER)
    resolved = opened()
    resolved.resolve(None, None, T0)
    resolved.retry_handoff(LATER)
    assert (resolved.status, resolved.updated_at) == ("resolved", T0)


def test_acknowledge() -> None:
    case = opened(None)
    event = case.acknowledge("ACME-2", "on it", LATER)
    assert isinstance(event, VendorCaseAcknowledged)
    assert (event.vendor_reference, event.note, event.acknowledged_at) == ("ACME-2", "on it", LATER)
    assert (case.status, case.vendor_reference, case.updated_at) == ("acknowledged", "ACME-2", LATER)


def test_an_update_keeps_the_case_status() -> None:
    case = opened()
    event = case.update("investigating", None, "looking", LATER)
    assert isinstance(event, VendorCaseUpdated)
    assert (event.status, event.vendor_reference, event.note, event.updated_at) == (
        "investigating",
        "ACME-1",
        "looking",
        LATER,
    )
    assert (case.status, case.updated_at) == ("open", LATER)


def test_resolve_and_reject_close_the_case() -> None:
    case = opened()
    resolved = case.resolve(None, "replaced the card", LATER)
    assert isinstance(resolved, VendorCaseResolved)
    assert (resolved.resolution, resolved.resolved_at) == ("replaced the card", LATER)
    assert case.is_closed
    other = opened()
    rejected = other.reject("X-1", "not ours", LATER)
    assert isinstance(rejected, VendorCaseRejected)
    assert (rejected.reason, rejected.vendor_reference, other.status) == ("not ours", "X-1", "rejected")


@pytest.mark.parametrize("closing", ["resolved", "rejected"])
@pytest.mark.parametrize("action", ["acknowledged", "updated", "resolved", "rejected"])
def test_a_closed_case_takes_no_callback(closing: str, action: str) -> None:
    case = opened()
    case.apply(Callback(case.id, closing), T0)
    with pytest.raises(Conflict) as raised:
        case.apply(Callback(case.id, action, reference="NEW", note="n"), LATER)
    assert raised.value.extensions == {"case_status": closing}
    assert (case.status, case.vendor_reference, case.updated_at) == (closing, "ACME-1", T0)


def test_callbacks_map_to_their_events() -> None:
    case = opened()
    kinds = [
        type(case.apply(Callback(case.id, action, status="s", note="n", resolution="r"), LATER))
        for action in ("acknowledged", "updated", "resolved")
    ]
    assert kinds == [VendorCaseAcknowledged, VendorCaseUpdated, VendorCaseResolved]


def test_callback_fallbacks() -> None:
    resolved = opened().apply(Callback(uuid.uuid4(), "resolved", note="fixed"), LATER)
    assert isinstance(resolved, VendorCaseResolved) and resolved.resolution == "fixed"
    rejected = opened().apply(Callback(uuid.uuid4(), "rejected", status="wontfix"), LATER)
    assert isinstance(rejected, VendorCaseRejected) and rejected.reason == "wontfix"
    updated = opened().apply(Callback(uuid.uuid4(), "updated"), LATER)
    assert isinstance(updated, VendorCaseUpdated) and updated.status == "updated"


def test_a_callback_is_cleaned_before_it_is_stored() -> None:
    raw = Callback(uuid.uuid4(), "updated", reference="R\x00-1", status="a" * 100, note="line\x07\nnext")
    cleaned = raw.cleaned()
    assert "\x00" not in (cleaned.reference or "")
    assert len(cleaned.status or "") <= 80
    assert cleaned.note is not None and "\x07" not in cleaned.note and "\n" in cleaned.note
    assert Callback(uuid.uuid4(), "updated").cleaned().note is None
