"""The notifier's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from tierline_notifier import __version__
from tierline_notifier.adapters.channels import SmtpSettings
from tierline_notifier.adapters.orm import Base
from tierline_notifier.adapters.templates import Templates
from tierline_notifier.config import Settings, allow_hosts, load_notifications
from tierline_notifier.entrypoints import directory_api, handlers, notifications_api, workers
from tierline_notifier.service_layer import directory
from tierline_notifier.service_layer.unit_of_work import NotifierDeps
from tierline_shared.clock import Clock
from tierline_shared.events import topics
from tierline_shared.links import LinkSigner, parse_secrets
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.runtime import create_app as create_service_app


def smtp_settings(settings: Settings) -> SmtpSettings | None:
    if not settings.smtp_host:
        return None
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        use_tls=settings.smtp_tls,
        from_address=settings.smtp_from,
        timeout=settings.smtp_timeout_seconds,
    )


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    config = load_notifications(settings)
    # compiled now: a template error names its file and line and stops the service from starting
    templates = Templates.load(settings.config_dir / settings.templates_dir)
    secrets = parse_secrets(settings.link_secret.get_secret_value() if settings.link_secret else None)

    def state(rt: Runtime) -> dict[str, object]:
        return {
            "deps": NotifierDeps(
                outbox=rt.outbox,
                clock=rt.clock,
                templates=templates,
                schedule=config.delivery.schedule,
                allow_hosts=allow_hosts(settings, config),
                intake_url=settings.intake_url,
                smtp=smtp_settings(settings),
                signer=LinkSigner(secrets) if secrets else None,
                ack_link_ttl=settings.ack_link_ttl,
                csat_link_ttl=settings.csat_link_ttl,
            )
        }

    async def on_start(rt: Runtime) -> None:
        people, teams = config.directory()
        deps: NotifierDeps = rt.state["deps"]
        async with rt.unit_of_work() as session:
            await directory.apply_config(deps.unit_of_work(session), people, teams, rt.clock.now())

    return ServiceSpec(
        name="notifier",
        version=__version__,
        description="Tells assignees, queue teams, leads and reporters about incidents by email and chat.",
        settings=settings,
        metadata=Base.metadata,
        publishes=[topics.NOTIFICATIONS],
        consumes=[topics.INCIDENTS, topics.ROUTING, topics.SLA, topics.VENDOR],
        handlers=lambda rt: handlers.bind(rt.state["deps"]),
        lock_key=handlers.handlers.lock_key,
        routers=[notifications_api.router, directory_api.router],
        workers=[("sender", workers.send_notifications), ("notification-gauges", workers.queue_gauges)],
        state=state,
        on_start=on_start,
        openapi_tags=[
            {"name": "notifications", "description": "The notification log"},
            {"name": "directory", "description": "People and teams: who is told, and how"},
        ],
    )


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    return create_service_app(build_spec(settings), clock=clock)
