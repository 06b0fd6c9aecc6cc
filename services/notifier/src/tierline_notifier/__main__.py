import sys

from tierline_notifier.config import Settings
from tierline_shared import cli


def main() -> int:
    return cli.run(
        service="notifier",
        app_factory="tierline_notifier.bootstrap:create_app",
        settings=Settings,
        package_file=__file__,
    )


if __name__ == "__main__":
    sys.exit(main())
