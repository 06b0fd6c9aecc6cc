"""The vendor directory: what the vendor gateway last said about each vendor."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from tierline_router.adapters.orm import ListedVendorRow
from tierline_router.domain.model import ListedVendor, VendorContract
from tierline_shared.db import Repository
from tierline_shared.events import VendorChanged


class VendorDirectory(Repository[ListedVendorRow]):
    model = ListedVendorRow
    what = "vendor"

    async def directory(self) -> dict[str, ListedVendor]:
        rows = (await self.session.scalars(select(ListedVendorRow))).all()
        return {
            row.vendor: ListedVendor(
                vendor=row.vendor,
                products=row.products,
                categories=row.categories,
                contract=VendorContract(
                    response=(row.contract or {}).get("response_seconds"),
                    resolution=(row.contract or {}).get("resolution_seconds"),
                ),
                is_enabled=row.is_enabled,
            )
            for row in rows
        }

    async def record(self, event: VendorChanged) -> None:
        """Keep the latest word on a vendor; an older announcement arriving late changes nothing."""
        values = {
            "products": event.products,
            "categories": event.categories,
            "contract": event.contract.model_dump() if event.contract else None,
            "is_enabled": event.is_enabled,
            "revision": event.revision,
            "changed_at": event.changed_at,
        }
        statement = insert(ListedVendorRow).values(vendor=event.vendor, **values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[ListedVendorRow.vendor],
                set_=values,
                where=ListedVendorRow.revision < statement.excluded.revision,
            )
        )
