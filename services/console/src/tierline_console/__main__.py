"""``python -m tierline_console [serve]`` runs the console; ``secret`` prints a new sealing key."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from pydantic import ValidationError

from tierline_console.config import MissingSecret, Settings, new_secret
from tierline_shared.logging import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tierline-console")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the console's web server (the default)")
    sub.add_parser("secret", help="print a new TIERLINE_CONSOLE_SECRET (a Fernet key)")
    args = parser.parse_args(argv)
    if args.command == "secret":
        print(new_secret())
        return 0
    try:
        settings = Settings()
        settings.sealing_keys()
    except (MissingSecret, ValidationError) as exc:
        print(f"tierline-console: {exc}", file=sys.stderr)
        return 2
    configure_logging("console", settings.log_level)
    uvicorn.run(
        "tierline_console.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
