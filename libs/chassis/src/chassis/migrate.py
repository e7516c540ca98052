"""``python -m chassis.migrate <service>...``: upgrade each service's schema to head, reading
``<SERVICE>_DATABASE_URL`` like the service itself. The init step before each service starts
(containers), and the native launcher's first step (in a process of its own, so the
launcher never imports SQLAlchemy and Alembic and stays small while it watches the stack)."""

from __future__ import annotations

import argparse

from chassis.logging import configure_logging, get_logger
from chassis.migrations import upgrade_to_head
from chassis.settings import ServiceSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("services", nargs="+", metavar="service",
                        help="service package, e.g. boards")
    args = parser.parse_args()
    for service in args.services:
        settings = ServiceSettings.for_service(service)
        configure_logging(f"{service}-migrate", settings.log_level)
        upgrade_to_head(service, settings.database_url)
        get_logger(__name__).info("migrated", service=service)


if __name__ == "__main__":
    main()
