import sys

from tierline_shared import cli
from tierline_sla_monitor.config import Settings


def main() -> int:
    return cli.run(
        service="sla-monitor",
        app_factory="tierline_sla_monitor.bootstrap:create_app",
        settings=Settings,
        package_file=__file__,
    )


if __name__ == "__main__":
    sys.exit(main())
