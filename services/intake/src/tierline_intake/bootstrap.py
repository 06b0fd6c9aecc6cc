"""Intake's composition root."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from tierline_intake import __version__
from tierline_intake.adapters.orm import Base, outbox
from tierline_intake.config import Settings, load_knowledge, load_priority_matrix
from tierline_intake.domain.facts import FirstContactWindows
from tierline_intake.domain.priority import validate_matrix
from tierline_intake.entrypoints import (
    admin_api,
    api,
    attachments_api,
    handlers,
    links_api,
    monitoring_api,
    problems_api,
    reports_api,
    workers,
)
from tierline_intake.mail.ingest import MailPolicy
from tierline_intake.mail.mailboxes import load_mailboxes
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_shared.clock import Clock
from tierline_shared.events import topics
from tierline_shared.links import LinkSigner, parse_secrets
from tierline_shared.messaging.outbox import Outbox
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.runtime import create_app as create_service_app


def admin_deps(clock: Clock) -> IntakeDeps:
    """What the API key commands need outside a running service: the outbox and a clock."""
    return IntakeDeps(
        outbox=Outbox(outbox, source="/tierline/intake", clock=clock), clock=clock, priority_matrix={}
    )


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    priorities = load_priority_matrix(settings)
    matrix = priorities.matrix
    validate_matrix(matrix)
    severity_rules = priorities.severity_rules()
    knowledge = load_knowledge(settings)
    secrets = parse_secrets(settings.link_secret.get_secret_value() if settings.link_secret else None)
    signer = LinkSigner(secrets) if secrets else None
    mail = MailPolicy.of(settings, load_mailboxes(settings))
    mail_workers = [("mail", workers.serve_mail)] if settings.mail_listen else []
    if settings.imap_host:
        mail_workers.append(("imap", workers.fetch_mail))

    def state(rt: Runtime) -> dict[str, object]:
        return {
            "deps": IntakeDeps(
                outbox=rt.outbox,
                clock=rt.clock,
                priority_matrix=matrix,
                knowledge=knowledge,
                severity_rules=severity_rules,
                reopen_window=timedelta(seconds=settings.reopen_window_seconds),
                links=signer,
                first_contact_windows=FirstContactWindows(
                    live=timedelta(seconds=settings.first_contact_live_seconds),
                    other=timedelta(seconds=settings.first_contact_seconds),
                ),
            ),
            "mail": mail,
        }

    return ServiceSpec(
        name="intake",
        version=__version__,
        description="Creates incidents and keeps their read model: status, tier, assignee, SLA and timeline.",
        settings=settings,
        metadata=Base.metadata,
        publishes=[topics.INCIDENTS, topics.ACCESS],
        consumes=[topics.ROUTING, topics.SLA, topics.VENDOR, topics.NOTIFICATIONS],
        handlers=lambda rt: handlers.bind(rt.state["deps"]),
        routers=[
            api.router,
            problems_api.router,
            reports_api.router,
            monitoring_api.router,
            admin_api.router,
            links_api.router,
            attachments_api.router,
        ],
        workers=[("facts", workers.refresh_facts_loop), *mail_workers],
        state=state,
        openapi_tags=[
            {"name": "incidents", "description": "Create incidents and run their life"},
            {"name": "problems", "description": "Problem records linking incidents with one root cause"},
            {
                "name": "reports",
                "description": "Service desk KPIs per tier, queue, agent or vendor; backlog ageing",
            },
            {
                "name": "monitoring",
                "description": "PagerDuty Events v2 and Alertmanager compatible endpoints",
            },
            {"name": "admin", "description": "API keys and integrations (admin scope)"},
            {
                "name": "links",
                "description": "Acknowledge and CSAT links from notifications (the signed token is the key)",
            },
        ],
    )


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    return create_service_app(build_spec(settings), clock=clock)
