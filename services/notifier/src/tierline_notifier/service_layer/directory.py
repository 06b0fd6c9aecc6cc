"""People and teams: the file applied at start, and the admin API's use cases.

The use cases have the standard names the catalog's routes call (list_all, get, replace,
delete); ``replace`` makes the entry when it is new, so ``PUT`` both adds and changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from tierline_notifier.adapters import channels
from tierline_notifier.domain.directory import Contact, Person, Team
from tierline_notifier.service_layer.unit_of_work import NotifierDeps, NotifierUnitOfWork
from tierline_shared import ssrf
from tierline_shared.catalog.resource import Catalog, Listed
from tierline_shared.errors import Conflict, InvalidInput

Item = TypeVar("Item", Person, Team)


async def apply_config(
    uow: NotifierUnitOfWork, people: Sequence[Person], teams: Sequence[Team], now: datetime
) -> None:
    """Make the directory hold the file's people and teams; those made through the API stay."""
    await uow.lock("notifier:directory")
    await uow.people.apply_config(people, now)
    await uow.teams.apply_config(teams, now)


def _problem(contact: Contact, allow: Sequence[str]) -> str | None:
    """Why messages could never reach ``contact`` (None when they may)."""
    try:
        if contact.type == "email":
            channels.check_address(contact.target)
            return None
        target = channels.chat_host(channels.chat_url(contact.type, contact.target))
        if target is not None:
            host, tls = target
            ssrf.check_url(f"{'https' if tls else 'http'}://{host}/", allow)
    except (ValueError, ssrf.Refused) as exc:
        return str(exc)
    return None


def vet(item: Person | Team, allow: Sequence[str]) -> None:
    """InvalidInput (422) naming each contact whose address or URL can never work, or may not be called
    (loopback and private hosts unless allow-listed): checked again before every message is sent."""
    field_name = "contacts" if isinstance(item, Person) else "channels"
    contacts = item.contacts if isinstance(item, Person) else item.channels
    errors = [
        {"field": f"{field_name}.{i}.{'address' if c.type == 'email' else 'url'}", "reason": problem}
        for i, c in enumerate(contacts)
        if (problem := _problem(c, allow)) is not None
    ]
    if errors:
        raise InvalidInput(
            "A contact can never be reached: " + "; ".join(e["reason"] for e in errors), errors=errors
        )


class Uses(Generic[Item]):
    """A directory resource's use cases over its catalog in the unit of work (``people`` or ``teams``)."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    def _catalog(self, uow: NotifierUnitOfWork) -> Catalog[Any, Item]:
        catalog: Catalog[Any, Item] = getattr(uow, self.attribute)
        return catalog

    async def list_all(self, uow: NotifierUnitOfWork) -> list[Listed[Item]]:
        return await self._catalog(uow).list_all()

    async def get(self, uow: NotifierUnitOfWork, name: str) -> Listed[Item]:
        return await self._catalog(uow).get(name)

    async def replace(self, uow: NotifierUnitOfWork, deps: NotifierDeps, item: Item) -> Listed[Item]:
        """Write the entry, making it when it is new (it is then managed by the API)."""
        vet(item, deps.allow_hosts)
        catalog = self._catalog(uow)
        await uow.lock("notifier:directory")
        await _check_lead(uow, item)
        row = await catalog.repo.get(item.name, lock=True)
        if row is None:
            row = await catalog.add(item, deps.clock.now())
        else:
            await catalog.replace(row, item, deps.clock.now())
        await catalog.repo.flush()
        return catalog.view(row)

    async def delete(self, uow: NotifierUnitOfWork, name: str) -> None:
        catalog = self._catalog(uow)
        await uow.lock("notifier:directory")
        row = await catalog.found(name)
        if self.attribute == "people":
            led = sorted(t.item.name for t in await uow.teams.list_all() if t.item.lead == name)
            if led:
                raise Conflict(
                    f"{name} leads {', '.join(led)}: give the team(s) another lead first.", teams=led
                )
        await catalog.remove(row)


async def _check_lead(uow: NotifierUnitOfWork, item: Person | Team) -> None:
    """A team's lead is a person of the directory (422 naming ``lead`` otherwise)."""
    if isinstance(item, Team) and item.lead is not None and await uow.people.repo.get(item.lead) is None:
        raise InvalidInput(
            f"No person named {item.lead!r} is in the directory: PUT /v1/people/{item.lead} first.",
            errors=[{"field": "lead", "reason": f"no person named {item.lead!r}"}],
        )


people: Uses[Person] = Uses("people")
teams: Uses[Team] = Uses("teams")
