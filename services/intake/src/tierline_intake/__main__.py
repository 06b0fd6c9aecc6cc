import sys

from tierline_intake.config import Settings
from tierline_shared import cli


def main() -> int:
    return cli.run(
        service="intake",
        app_factory="tierline_intake.bootstrap:create_app",
        settings=Settings,
        package_file=__file__,
    )


if __name__ == "__main__":
    sys.exit(main())
