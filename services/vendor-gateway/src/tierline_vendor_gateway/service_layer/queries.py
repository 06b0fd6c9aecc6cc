"""Reading cases and deliveries for the APIs: filtered lists (cases in keyset pages, newest first) and one."""

from __future__ import annotations

import uuid

from tierline_shared.errors import NotFound
from tierline_vendor_gateway.adapters.queries import CaseFilter
from tierline_vendor_gateway.domain.case import Case
from tierline_vendor_gateway.domain.webhook import AttemptRecord, Delivery
from tierline_vendor_gateway.service_layer.unit_of_work import GatewayUnitOfWork

__all__ = ["CaseFilter", "get_case", "get_delivery", "list_cases", "list_deliveries", "with_log"]

Logged = tuple[Delivery, list[AttemptRecord]]


async def list_cases(
    uow: GatewayUnitOfWork, flt: CaseFilter, *, limit: int, cursor: str | None
) -> tuple[list[Case], str | None]:
    """A page of cases, newest first, and the cursor of the next page (None on the last)."""
    return await uow.queries.cases(flt, limit=limit, cursor=cursor)


async def get_case(uow: GatewayUnitOfWork, case_id: uuid.UUID) -> Case:
    case = await uow.queries.case(case_id)
    if case is None:
        raise NotFound(f"No case {case_id}.")
    return case


async def with_log(uow: GatewayUnitOfWork, found: list[Delivery]) -> list[Logged]:
    """Each delivery with its attempts, oldest first."""
    log = await uow.attempts.of([d.id for d in found])
    return [(d, log.get(d.id, [])) for d in found]


async def list_deliveries(
    uow: GatewayUnitOfWork,
    *,
    vendor: str | None,
    status: str | None,
    limit: int,
    case_id: uuid.UUID | None = None,
) -> list[Logged]:
    """The delivery log, newest deliveries first (of one case, when ``case_id`` is given)."""
    found = await uow.queries.deliveries(vendor=vendor, status=status, limit=limit, case_id=case_id)
    return await with_log(uow, found)


async def get_delivery(uow: GatewayUnitOfWork, delivery_id: str) -> Logged:
    found = await uow.queries.delivery(delivery_id)
    if found is None:
        raise NotFound(f"There is no delivery {delivery_id!r}.")
    [logged] = await with_log(uow, [found])
    return logged
