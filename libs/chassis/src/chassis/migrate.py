"""``python -m chassis.migrate <service>``: upgrade the service's schema to head, reading
``<SERVICE>_DATABASE_URL`` like the service itself. The init step before each service starts
(containers) and what the native launcher does in-process."""

from __future__ import annotations

import argparse

from chassis.logging import configure_logging, get_logger
from chassis.migrations import upgrade_to_head
from chassis.settings import ServiceSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", help="service package, e.g. boards")
    args = parser.parse_args()
    settings = ServiceSettings.for_service(args.service)
    configure_logging(f"{args.service}-migrate", settings.log_level)
    upgrade_to_head(args.service, settings.database_url)
    get_logger(__name__).info("migrated", service=args.service)


if __name__ == "__main__":
    main()
