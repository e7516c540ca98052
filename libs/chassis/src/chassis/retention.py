"""Stream retention: how a producer's event stream is kept from growing for ever.

Redis keeps every stream entry until someone trims it, and trimming with a length cap
(``XADD MAXLEN``) would drop entries a slow or stopped consumer group has not processed. So
the relay that produces a stream trims it (:meth:`chassis.relay.OutboxRelay.run`, every few
minutes) only below a point every consumer is past:

* for each consumer group: its oldest *pending* entry (delivered, not yet acknowledged; a
  dead consumer's entries are reclaimed from there), else its last-delivered id;
* and never anything younger than the retention period (``<SVC>_STREAM_RETENTION_HOURS``,
  7 days by default), so a consumer group created later, which starts from the beginning of
  the stream, still finds that much history, and an operator can replay it.

Entries below both bounds are removed with an exact ``XTRIM ... MINID``. Dead-letter streams
are never trimmed: they are for people to inspect and replay.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

StreamId = tuple[int, int]


def parse_id(text: str | bytes) -> StreamId:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``: stream ids compare as number pairs."""
    if isinstance(text, bytes):
        text = text.decode()
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(stream_id: StreamId) -> str:
    return f"{stream_id[0]}-{stream_id[1]}"


async def safe_trim_point(redis: aioredis.Redis, stream: str, *, now_ms: int,
                          retention_ms: int) -> StreamId:
    """The id below which every entry of ``stream`` is both processed by every consumer
    group and older than the retention period."""
    floor: StreamId = (max(now_ms - retention_ms, 0), 0)
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:   # no such stream
        return (0, 0)
    for group in groups:
        name = group["name"]
        pending = await redis.xpending(stream, name)
        if pending["pending"]:
            needed = parse_id(pending["min"])
        else:
            needed = parse_id(group["last-delivered-id"])
        floor = min(floor, needed)
    return floor


async def trim_stream(redis: aioredis.Redis, stream: str, *, now_ms: int,
                      retention_ms: int) -> int:
    """Removes what :func:`safe_trim_point` allows; returns how many entries went."""
    point = await safe_trim_point(redis, stream, now_ms=now_ms, retention_ms=retention_ms)
    if point == (0, 0):
        return 0
    return int(await redis.xtrim(stream, minid=format_id(point), approximate=False))
