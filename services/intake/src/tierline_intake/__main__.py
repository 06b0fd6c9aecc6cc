import sys

from tierline_intake.config import Settings
from tierline_shared import cli


def main() -> int:
    if sys.argv[1:2] == ["api-key"]:
        from tierline_intake.entrypoints import cli as key_cli

        return key_cli.main(sys.argv[2:])
    return cli.run(
        service="intake",
        app_factory="tierline_intake.bootstrap:create_app",
        settings=Settings,
        package_file=__file__,
    )


if __name__ == "__main__":
    sys.exit(main())
