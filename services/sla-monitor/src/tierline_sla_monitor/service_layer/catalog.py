"""Managing SLA policies and calendars: from the policy file at start, or the admin API.

Every change is checked against the whole catalog under one advisory lock, so no edit leaves
a priority without a policy or a policy naming a missing calendar. Running clocks keep the
target they started with; a priority change re-targets them against the policies of the moment.
Policies are matched in rank order (1, 2, 3 …, no gaps); every change renumbers them.

This module applies the file and holds what the changes share; ``policies`` and ``calendars``
are the admin API's use cases.
"""

from __future__ import annotations

from datetime import datetime

from tierline_shared.catalog import resource
from tierline_shared.logging import get_logger
from tierline_sla_monitor.domain.catalog import Catalog
from tierline_sla_monitor.domain.policy import SlaConfig, config_problem
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork

_log = get_logger(__name__)
CATALOG_LOCK = "tierline.sla.catalog"
CONFIG, API = resource.CONFIG, resource.API


async def checked(uow: SlaUnitOfWork) -> Catalog:
    """The catalog as the change leaves it; IncompleteConfiguration (409) when it leaves a gap."""
    await uow.flush()
    catalog = await uow.catalog.load()
    resource.refuse(config_problem(catalog.calendars, catalog.policies))
    return catalog


async def apply_config(uow: SlaUnitOfWork, config: SlaConfig, now: datetime) -> None:
    """Make the database hold what the policy file declares (what the API made stays).

    The file's policies take the file's order; those made through the API keep their place
    relative to the file's policies (see ``ranking.reapply``).
    """
    await uow.lock(CATALOG_LOCK)
    await uow.calendars.apply_config(config.calendars, now)
    await uow.policies.apply_config(config.policies, now)
    await checked(uow)
    for listed in await uow.policies.list_all():
        for warning in listed.warnings:
            _log.warning("catalog_entry_never_reached", entry=listed.item.name, detail=warning.detail)
    _log.info("sla_config_applied", calendars=len(config.calendars), policies=len(config.policies))
