import sys

from tierline_shared import cli
from tierline_vendor_gateway.config import Settings


def main() -> int:
    return cli.run(
        service="vendor-gateway",
        app_factory="tierline_vendor_gateway.bootstrap:create_app",
        settings=Settings,
        package_file=__file__,
    )


if __name__ == "__main__":
    sys.exit(main())
