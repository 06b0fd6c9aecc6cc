import sys

from tierline_intake.config import Settings
from tierline_intake.entrypoints.cli import API_KEY
from tierline_shared import cli


def main() -> int:
    return cli.run(
        service="intake",
        app_factory="tierline_intake.bootstrap:create_app",
        settings=Settings,
        package_file=__file__,
        admin_commands=[API_KEY],
    )


if __name__ == "__main__":
    sys.exit(main())
