"""The floor baseline of the whole-stack reads: the least a Python API can do for a task read
on this machine. A minimal FastAPI app, served by uvicorn with the services' settings, that
answers every GET with one row of boards' ``tasks`` table (the id in ``FLOOR_TASK_ID``)
read from the same PostgreSQL with the same driver (psycopg, a small pool of connections,
autocommit). No token check, no role, no framework layers of ours.

    FLOOR_DATABASE_URL=postgresql://... FLOOR_TASK_ID=<uuid> \\
        uvicorn floor_app:app --workers N --no-access-log
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI
from psycopg.rows import dict_row

POOL_SIZE = 16
QUERY = "SELECT * FROM boards.tasks WHERE id = %s"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool: asyncio.Queue[psycopg.AsyncConnection[dict[str, Any]]] = asyncio.Queue()
    for _ in range(POOL_SIZE):
        pool.put_nowait(await psycopg.AsyncConnection.connect(
            os.environ["FLOOR_DATABASE_URL"], autocommit=True, row_factory=dict_row))
    app.state.pool = pool
    yield
    while not pool.empty():
        await pool.get_nowait().close()


app = FastAPI(lifespan=lifespan)
TASK_ID = os.environ.get("FLOOR_TASK_ID", "")


@app.get("/{path:path}")
async def one_row(path: str) -> dict[str, Any]:
    pool = app.state.pool
    conn = await pool.get()
    try:
        cursor = await conn.execute(QUERY, (TASK_ID,))
        row = await cursor.fetchone()
    finally:
        pool.put_nowait(conn)
    return row or {}
