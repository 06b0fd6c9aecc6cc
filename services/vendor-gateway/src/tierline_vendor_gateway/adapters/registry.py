"""The vendor registry's storage: vendors (the shared catalog resource) and their endpoints' state.

A vendor's description lives in ``vendors``; whether its endpoint is enabled lives in
``vendor_state``, because a 410 Gone, an operator or the file may switch it off independently
of edits to the description. ``Registered`` is the two read together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.catalog import repository, resource
from tierline_vendor_gateway.adapters.orm import VendorRow, VendorStateRow
from tierline_vendor_gateway.domain.vendors import Vendor, VendorSpec


@dataclass(frozen=True)
class Registered:
    """A vendor as the registry holds it, with its endpoint's state."""

    vendor: Vendor
    is_enabled: bool
    disabled_reason: str | None
    managed_by: str
    created_at: datetime
    updated_at: datetime


def _spec(vendor: VendorSpec) -> dict[str, Any]:
    return vendor.model_dump(mode="json", exclude={"name"})


def _vendor_of(row: VendorRow) -> Vendor:
    return Vendor.model_validate({**row.spec, "name": row.name})


VENDORS = resource.Resource[VendorRow, Vendor](
    row=VendorRow, what="vendor", article="a", item_of=_vendor_of, columns=lambda v: {"spec": _spec(v)}
)


def vendors(session: AsyncSession) -> resource.Catalog[VendorRow, Vendor]:
    return resource.Catalog(VENDORS, repository.CatalogRepository(session, VendorRow, what="vendor"))


def registered(row: VendorRow, state: VendorStateRow | None) -> Registered:
    return Registered(
        vendor=_vendor_of(row),
        is_enabled=state is None or state.is_enabled,
        disabled_reason=None if state is None or state.is_enabled else state.reason,
        managed_by=row.managed_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class VendorStates:
    """Vendors read with their endpoint's state, the state written, each announcement's revision."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(self, names: Iterable[str] | None = None) -> dict[str, Registered]:
        """Registered vendors by name (all, or those named), with their state, in one query."""
        stmt = select(VendorRow, VendorStateRow).outerjoin(
            VendorStateRow, VendorStateRow.vendor == VendorRow.name
        )
        if names is not None:
            stmt = stmt.where(VendorRow.name.in_(set(names)))
        stmt = stmt.order_by(VendorRow.name).execution_options(populate_existing=True)
        rows = (await self.session.execute(stmt)).all()
        return {row.name: registered(row, state) for row, state in rows}

    async def of(self, row: VendorRow) -> Registered:
        """``row``'s vendor with its state as it stands now."""
        # populate_existing: set_enabled writes the state with a Core statement the session has not seen
        return registered(row, await self.session.get(VendorStateRow, row.name, populate_existing=True))

    async def set_enabled(self, vendor: str, enabled: bool, reason: str | None, now: datetime) -> None:
        values = {"is_enabled": enabled, "reason": reason, "updated_at": now}
        await self.session.execute(
            insert(VendorStateRow)
            .values(vendor=vendor, **values)
            .on_conflict_do_update(index_elements=[VendorStateRow.vendor], set_=values)
        )

    async def next_revision(self, name: str) -> int | None:
        """Bump the vendor's revision under its row lock; None when there is no such vendor."""
        revision: int | None = await self.session.scalar(
            sql_update(VendorRow)
            .where(VendorRow.name == name)
            .values(revision=VendorRow.revision + 1)
            .returning(VendorRow.revision)
        )
        return revision
