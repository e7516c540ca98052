"""Redis stream names: one stream per producing service, one dead-letter stream per consumer."""

IDENTITY_EVENTS = "identity.events"
WORKSPACE_EVENTS = "workspace.events"
BOARDS_EVENTS = "boards.events"
SCHEDULER_EVENTS = "scheduler.events"

STREAM_BY_PRODUCER = {
    "identity": IDENTITY_EVENTS,
    "workspace": WORKSPACE_EVENTS,
    "boards": BOARDS_EVENTS,
    "scheduler": SCHEDULER_EVENTS,
}


def dead_letter_stream(consumer_group: str) -> str:
    """The stream where a consumer group's poison messages are parked for inspection/replay."""
    return f"{consumer_group}.dead-letter"
