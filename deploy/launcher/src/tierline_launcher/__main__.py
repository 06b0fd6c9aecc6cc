"""``python -m tierline_launcher fetch|run``: what `make run` and the test fixtures use."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from tierline_launcher import demo as demo_story
from tierline_launcher.kafka import ensure_jars
from tierline_launcher.mail_catcher import MailCatcher
from tierline_launcher.paths import repo_root, run_dir
from tierline_launcher.postgres import reachable_data_root
from tierline_launcher.postgres import run_as as postgres_account
from tierline_launcher.procs import ManagedProcess, Supervisor, port_is_free, say
from tierline_launcher.system import (
    MAIL_LISTEN,
    MAIL_PORT,
    RUN_PORTS,
    SERVICES,
    Infra,
    Services,
    development_settings,
    new_console_secret,
    service_ports,
    user_sets,
)

BANNER = """
Tierline is running (Ctrl-C stops everything).

  console         {console}        (the desk's web pages: sign in with the key below)
  intake          {intake}        (POST /v1/incidents; docs at {intake}/docs)
  router          {router}
  sla-monitor     {sla-monitor}
  vendor-gateway  {vendor-gateway}
  notifier        {notifier}
  Kafka           {kafka}
  PostgreSQL      {postgres}
  Mail            {mail}
  Mail in         {mail_in}

Development API key (admin; kept in {key_file}):
  {api_key}

Try:
  export TIERLINE_KEY={api_key}
  curl -s -X POST {intake}/v1/incidents -H "Authorization: Bearer $TIERLINE_KEY" \\
    -H 'content-type: application/json' \\
    -d '{{"title": "VPN down for sales", "service": "vpn", "category": "network",
         "impact": "high", "urgency": "high", "channel": "web", "reporter": "alice@example.com"}}'

A service that exits is restarted (with backoff); its log is in the service logs folder.
"""


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret made once and kept in ``path`` (mode 0600 from the start), the same on every run."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(make() + "\n")
    return path.read_text().strip()


def dev_api_key(root: Path) -> tuple[Path, str]:
    """A development admin key, made once per run folder and kept there (mode 0600)."""
    path = root / "dev-api-key"
    return path, kept_secret(path, lambda: "tl_dev_" + secrets.token_urlsafe(24))


def link_secret(root: Path) -> str:
    """The secret intake and the notifier share for acknowledge and CSAT links, kept like the key."""
    return kept_secret(root / "link-secret", lambda: secrets.token_urlsafe(32))


def console_secret(root: Path) -> str:
    """The key the console seals its session cookies with, kept like the link secret: sessions
    survive a restart of `make run`."""
    return kept_secret(root / "console-secret", new_console_secret)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(*, demo: bool = False, exit_when_done: bool = False) -> int:
    """Start everything and supervise it until Ctrl-C; ``demo`` also tells one incident's story."""
    ports = service_ports()
    external = {
        "postgres": bool(os.environ.get("TIERLINE_DATABASE_URL")),
        "kafka": bool(
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("TIERLINE_KAFKA_BOOTSTRAP_SERVERS")
        ),
    }
    wanted = dict(ports) | {
        name: port
        for name, port in RUN_PORTS.items()
        if port is not None and not external[name.split("-")[0]]  # a server of the user's own is theirs
    }
    simulator_port = demo_story.simulator_port() if demo else None
    if simulator_port:
        wanted["vendor simulator"] = simulator_port
    # the user's own SMTP server, when named; else the development mail catcher
    mail_port = None if user_sets(os.environ, "notifier", "TIERLINE_SMTP_HOST") else MAIL_PORT
    if mail_port is not None:
        wanted["mail catcher"] = mail_port
    busy = [f"{port} ({name})" for name, port in wanted.items() if not port_is_free(port)]
    if busy:
        say("port(s) in use: " + ", ".join(busy) + " - is Tierline already running?")
        return 1
    # Explicit handlers: a launcher started in the background may inherit SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupt)
    root = run_dir() / "demo" if demo else run_dir()
    config_dir = repo_root() / "deploy" / "config"
    extra_env: dict[str, str] = {}
    if demo:
        say(f"demo: a fresh system in {root}; each tier holds an incident {demo_story.TIER_BUDGET} at most")
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(reachable_data_root(root / "postgres", postgres_account()), ignore_errors=True)
        config_dir = root / "config"
        demo_story.write_config(config_dir)
        extra_env = {
            "TIERLINE_TIMER_POLL_SECONDS": "0.2",
            "TIERLINE_DELIVERY_POLL_SECONDS": "0.2",
            "TIERLINE_CONFIG_DIR": str(config_dir),  # the demo's budgets, whatever the environment says
            demo_story.webhook_url_variable(demo_story.DEMO_VENDOR): (
                f"http://127.0.0.1:{simulator_port}/tierline/cases"
            ),
        }
    infra = Infra(root, durable=not demo, ports=RUN_PORTS)
    services: Services | None = None
    extras: dict[str, ManagedProcess] = {}
    catcher: MailCatcher | None = None
    mail_log = root / "logs" / "mail.log"
    try:
        if mail_port is not None:
            catcher = MailCatcher(mail_log, port=mail_port).start()
            say(f"mail catcher ready at smtp://{catcher.address}; mail goes to {mail_log}")
        infra.start()
        key_file, api_key = dev_api_key(run_dir())  # the demo's too: the CLI finds it there
        api_key = os.environ.get("TIERLINE_BOOTSTRAP_API_KEY", api_key)
        services = Services(
            infra,
            ports=ports,
            log_dir=root / "logs",
            config_dir=config_dir,
            extra_env={"TIERLINE_BOOTSTRAP_API_KEY": api_key, **extra_env},
            service_env=development_settings(
                os.environ,
                mail_port=mail_port,
                link_secret=link_secret(run_dir()),
                console_secret=console_secret(run_dir()),
            ),
        )
        services.start()
        if simulator_port:
            extras["vendor-simulator"] = demo_story.start_simulator(root, config_dir, simulator_port)
            say(f"vendor simulator ({demo_story.DEMO_VENDOR}) ready at http://127.0.0.1:{simulator_port}")
        urls = {s.name: services.url(s.name) for s in SERVICES}
        print(
            BANNER.format(
                **urls,
                kafka=infra.bootstrap_servers,
                api_key=api_key,
                key_file=key_file,
                postgres=infra.server_url(),
                mail=_where_mail_goes(catcher, mail_log),
                mail_in=_where_mail_comes_in(os.environ),
            ),
            flush=True,
        )
        say(f"service logs: {root / 'logs'}")
        if demo:
            _tell_the_story(services.url("intake"), api_key, keeps_running=not exit_when_done)
            if exit_when_done:
                return 0
        # Like compose's `restart: unless-stopped`: whatever exits is started again, with backoff.
        supervisor = Supervisor({**infra.procs(), **services.procs, **extras})
        while True:
            supervisor.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except TimeoutError as exc:
        say(f"demo: {exc}; see the logs in {root / 'logs'}")
        return 1
    finally:
        for proc in extras.values():
            proc.stop()
        if services:
            services.stop()
        infra.stop()
        if catcher:
            catcher.stop()
        say("stopped")


def _where_mail_goes(catcher: MailCatcher | None, mail_log: Path) -> str:
    if catcher is None:
        return "sent through TIERLINE_SMTP_HOST (your SMTP server)"
    return f"caught at smtp://{catcher.address}, nothing is delivered: read it in {mail_log}"


def _where_mail_comes_in(environ: Mapping[str, str]) -> str:
    if user_sets(environ, "intake", "TIERLINE_MAIL_LISTEN"):
        return "where TIERLINE_MAIL_LISTEN says (empty: off)"
    return f"smtp://{MAIL_LISTEN}: mail to support@ or vpn@tierline.localhost becomes an incident"


def _tell_the_story(intake: str, api_key: str, *, keeps_running: bool) -> None:
    story = demo_story.Story(intake, api_key, out=lambda line: print(line, flush=True))
    try:
        print("\nA morning at the service desk: four incidents arrive.", flush=True)
        star = story.post_incidents()
        print(f"\nFollowing {star} from monitoring up the tiers to the vendor and back:", flush=True)
        view = story.follow(star)
        story.print_timeline(view)
        print("\nThe demo incident climbed L1 → L4 and the vendor resolved it.", flush=True)
        if keeps_running:
            print("The system keeps running: explore it with the key above; Ctrl-C stops it.", flush=True)
    finally:
        story.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tierline-launcher")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download the Kafka broker jars (cached)")
    sub.add_parser("run", help="start Kafka, PostgreSQL, a mail catcher and the services in the foreground")
    demo = sub.add_parser("demo", help="run on demo budgets with a vendor simulator; narrate one incident")
    demo.add_argument("--exit-when-done", action="store_true", help="stop once the story is told")
    doc = sub.add_parser("settings-doc", help="the README's configuration table, from the settings classes")
    doc.add_argument("readme", nargs="?", type=Path, default=repo_root() / "README.md")
    doc.add_argument("--check", action="store_true", help="fail when the README's table is out of date")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        ensure_jars()
        return 0
    if args.command == "settings-doc":
        from tierline_launcher import settings_doc

        if args.check:
            if settings_doc.is_current(args.readme):
                return 0
            say(f"{args.readme}: the configuration table is out of date; run `make docs`")
            return 1
        changed = settings_doc.write(args.readme)
        say(f"{args.readme}: configuration table {'updated' if changed else 'already current'}")
        return 0
    if args.command == "demo":
        return run(demo=True, exit_when_done=args.exit_when_done)
    return run()


if __name__ == "__main__":
    sys.exit(main())
