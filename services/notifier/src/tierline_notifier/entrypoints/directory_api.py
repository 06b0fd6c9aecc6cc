"""The directory's admin API: ``/v1/people/{name}`` and ``/v1/teams/{queue}`` (PUT adds or replaces).

Reading takes ``incidents:read``; changing takes ``admin``. Contact URLs hold secrets (a webhook's
token): they are written, never shown back; answers name each by a fingerprint.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tierline_notifier.domain.directory import AgentKind, Contact, ContactType, Name, Person, Team, Urgency
from tierline_notifier.service_layer import directory
from tierline_notifier.service_layer.unit_of_work import NotifierDeps, NotifierUnitOfWork
from tierline_shared.api import KEY_PROBLEMS
from tierline_shared.catalog.resource import Listed
from tierline_shared.catalog.routes import CatalogOps, PerRoute, Work, mount
from tierline_shared.catalog.schemas import catalog_schemas, kept, to_domain

TAGS: list[str | Enum] = ["directory"]
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    404: {"description": "No such person or team (problem+json)"},
    409: {"description": "The person leads a team (problem+json)"},
    422: {"description": "Invalid input, naming the field (problem+json)"},
}
WORK = Work[NotifierUnitOfWork, NotifierDeps](
    unit_of_work=lambda rt, session: rt.state["deps"].unit_of_work(session), deps=lambda rt: rt.state["deps"]
)
router = APIRouter(tags=TAGS)


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="How rules name this contact")
    type: ContactType
    address: str | None = Field(default=None, max_length=320, description="email: the address")
    url: str | None = Field(
        default=None,
        max_length=2000,
        description="slack, teams, mattermost: the incoming-webhook URL; webhook: where to POST JSON; "
        "apprise: any Apprise URL. Write-only: answers show its fingerprint",
    )


class ContactOut(BaseModel):
    name: str
    type: ContactType
    address: str | None
    url_fingerprint: str | None = Field(description="sha256 of the URL, shortened; the URL is never shown")


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: Name
    after: str = Field(default="0s", description="Delay, e.g. 5m: dropped once the incident is acknowledged")


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urgency: list[Urgency] = Field(
        default=["high", "low"], min_length=1, description="high: P1/P2; low: P3/P4"
    )
    kinds: list[AgentKind] = Field(
        default=["assigned", "renotified", "escalated", "escalated_fyi", "sla_warning", "sla_breached"],
        min_length=1,
    )
    notify: list[StepIn] = Field(min_length=1, max_length=10)


class RuleOut(BaseModel):
    urgency: list[Urgency]
    kinds: list[AgentKind]
    notify: list[dict[str, Any]]


class PersonFields(BaseModel):
    contacts: list[ContactIn] = Field(default_factory=list, max_length=20)
    rules: list[RuleIn] = Field(
        default_factory=list, max_length=20, description="First match wins; none: every contact, at once"
    )


class PersonAnswer(BaseModel):
    name: str
    contacts: list[ContactOut]
    rules: list[RuleOut]


class TeamFields(BaseModel):
    lead: Name | None = Field(default=None, description="A person told at the last SLA warning and on breach")
    channels: list[ContactIn] = Field(default_factory=list, max_length=20)


class TeamAnswer(BaseModel):
    name: str
    lead: str | None
    channels: list[ContactOut]


PERSON_EXAMPLE = {
    "name": "alice",
    "contacts": [
        {"name": "chat", "type": "slack", "url": "https://hooks.slack.com/services/T000/B000/XXXX"},
        {"name": "work", "type": "email", "address": "alice@example.com"},
    ],
    "rules": [
        {"urgency": ["high"], "notify": [{"contact": "chat"}, {"contact": "work", "after": "5m"}]},
        {"urgency": ["low"], "notify": [{"contact": "work"}]},
    ],
}
TEAM_EXAMPLE = {
    "name": "service-desk",
    "lead": "lena",
    "channels": [{"name": "room", "type": "mattermost", "url": "https://chat.example.com/hooks/xxx"}],
}
PEOPLE = catalog_schemas("Person", PersonFields, PersonAnswer, example=PERSON_EXAMPLE)
TEAMS = catalog_schemas("Team", TeamFields, TeamAnswer, example=TEAM_EXAMPLE)


def _contact_out(contact: Contact) -> ContactOut:
    shown = contact.shown()
    return ContactOut(
        name=contact.name,
        type=contact.type,
        address=contact.address,
        url_fingerprint=None if contact.address is not None else shown,
    )


def _rule_out(rule: Any) -> RuleOut:
    notify = [{"contact": s.contact, "after_seconds": s.after.total_seconds()} for s in rule.notify]
    return RuleOut(urgency=rule.urgency, kinds=rule.kinds, notify=notify)


def _person_out(listed: Listed[Person]) -> Any:
    person = listed.item
    return PEOPLE.answer(
        name=person.name,
        contacts=[_contact_out(c) for c in person.contacts],
        rules=[_rule_out(r) for r in person.rules],
        **kept(listed, PEOPLE.answer),
    )


def _team_out(listed: Listed[Team]) -> Any:
    team = listed.item
    return TEAMS.answer(
        name=team.name,
        lead=team.lead,
        channels=[_contact_out(c) for c in team.channels],
        **kept(listed, TEAMS.answer),
    )


def _person_in(body: Any, name: str) -> tuple[Person]:
    return (to_domain(Person, {**body.model_dump(), "name": name}),)


def _team_in(body: Any, name: str) -> tuple[Team]:
    return (to_domain(Team, {**body.model_dump(), "name": name}),)


PEOPLE_ROUTES: PerRoute = {
    "list": "Everyone Tierline may tell, with their contacts (URLs by fingerprint) and rules",
    "get": "One person",
    "replace": "Add or replace a person (by the router's agent name): contacts and rules",
    "delete": "Remove a person: they are told nothing more",
}
TEAM_ROUTES: PerRoute = {
    "list": "Every queue's team: its channels and lead",
    "get": "One queue's team",
    "replace": "Add or replace a queue's team: its channels and lead",
    "delete": "Remove a queue's team",
}
mount(
    router,
    "/v1/people",
    PEOPLE,
    CatalogOps(
        WORK,
        "person",
        directory.people,
        PEOPLE_ROUTES,
        request=_person_in,
        answer=_person_out,
        plural="people",
    ),
    responses=PROBLEMS,
)
mount(
    router,
    "/v1/teams",
    TEAMS,
    CatalogOps(WORK, "team", directory.teams, TEAM_ROUTES, request=_team_in, answer=_team_out),
    responses=PROBLEMS,
)
