"""Event contracts frozen by example: every version's stored payload must still parse.

Each ``shared/tests/contracts/<type>.json`` is what that contract version put on the wire. A
change that breaks one — a field renamed or made required, a type narrowed — fails here, not
only in the AsyncAPI document's diff. A contract changes compatibly, or gets a ``.v2`` and an
upcaster from v1 (then the v1 golden proves the upcaster).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tierline_shared.events import registered_types
from tierline_shared.events.base import parse_event

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"
GOLDENS = sorted(CONTRACTS.glob("*.json"))


def test_every_contract_version_has_a_golden_payload() -> None:
    missing = sorted(set(registered_types()) - {path.stem for path in GOLDENS})
    assert not missing, (
        f"no golden payload for {missing}: run `.venv/bin/python shared/tests/contracts/add_missing.py`, "
        "make the new file realistic and commit it"
    )


@pytest.mark.parametrize("golden", GOLDENS, ids=[path.stem for path in GOLDENS])
def test_a_golden_payload_still_parses_as_its_contract(golden: Path) -> None:
    payload = json.loads(golden.read_text(encoding="utf-8"))
    event = parse_event(golden.stem, payload)  # upcast to the newest version where one exists
    dumped = json.loads(event.model_dump_json())
    if event.event_type == golden.stem:
        assert set(payload) <= set(dumped), "a field the contract carried is gone"
    assert parse_event(event.event_type, dumped) == event  # and it survives the wire again
