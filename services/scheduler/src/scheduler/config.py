"""Scheduler settings: the shared :class:`ServiceSettings` plus the scan. Environment
variables carry the ``SCHEDULER_`` prefix (``SCHEDULER_SCAN_INTERVAL_SECONDS``...)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chassis.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

# pg_try_advisory_lock key of the scanner ("sched" in ASCII): one active scanner per database.
DEFAULT_SCANNER_LOCK_KEY = 0x7363686564


class SchedulerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", extra="ignore")

    # How often the active scanner looks for due reminders.
    scan_interval_seconds: float = Field(default=60.0, gt=0)
    # reminder.due_soon goes out when due_at is at most this far ahead.
    due_soon_window_seconds: float = Field(default=24 * 3600, gt=0)
    # Reminders emitted per transaction of a scan.
    scan_batch_size: int = Field(default=1000, ge=1, le=10_000)
    # Added to the wall clock: lets tests and demos move time without sleeping.
    clock_offset_seconds: float = 0.0
    scanner_lock_key: int = DEFAULT_SCANNER_LOCK_KEY

    @property
    def due_soon_window(self) -> timedelta:
        return timedelta(seconds=self.due_soon_window_seconds)

    def now(self) -> datetime:
        """The scheduler's clock: UTC wall clock plus ``clock_offset_seconds``."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_seconds)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.clock_offset_seconds:
            problems.append("clock_offset_seconds is set (a testing aid)")
        return problems
