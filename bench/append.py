"""Signature-log append rate on SQLite and PostgreSQL: batched vs single-row, same run.

    .venv/bin/python bench/append.py [--entries 20000] [--batch 500] [--single 2000]

Starts a throwaway PostgreSQL cluster (the test suite's launcher, tests/_postgres.py)
and a SQLite file in a temporary folder. Events are copies of one real verdict
event with distinct identities, so only the store is measured. Prints a Markdown
table; results and method are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.progress import Progress

from bench._events import one_event
from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog
from schemas.events import VerdictEvent
from tests._postgres import APP_ROLE, LocalCluster, find_bindir, local_server


def copies(template: VerdictEvent, n: int, start: int) -> list[VerdictEvent]:
    """``n`` events like ``template`` with distinct sources and package hashes."""
    out = []
    for i in range(start, start + n):
        out.append(
            template.model_copy(
                update={
                    "source": template.source.model_copy(update={"offset": i}),
                    "package_sha256": hashlib.sha256(str(i).encode()).hexdigest(),
                }
            )
        )
    return out


async def rate(
    url: str,
    events: list[VerdictEvent],
    batch: int,
    app_role: str | None = None,
    owner_url: str | None = None,
) -> float:
    """Entries appended per second with ``batch`` events per transaction."""
    owner = make_engine(owner_url or url)
    await migrate(owner, app_role=app_role)
    await owner.dispose()
    engine = make_engine(url)
    log = SignatureLog(engine)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"batch {batch}", total=len(events))
        t0 = time.perf_counter()
        for i in range(0, len(events), batch):
            await log.append(events[i : i + batch])
            progress.advance(task, batch)
        elapsed = time.perf_counter() - t0
    assert await log.size() == len(events)
    await engine.dispose()
    return len(events) / elapsed


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=20_000, help="events for the batched run")
    ap.add_argument("--batch", type=int, default=500, help="events per transaction")
    ap.add_argument("--single", type=int, default=2_000, help="events for the single-row run")
    args = ap.parse_args()
    template = one_event()
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sq_batch = await rate(
            f"sqlite+aiosqlite:///{tmp}/b.db", copies(template, args.entries, 0), args.batch
        )
        sq_single = await rate(
            f"sqlite+aiosqlite:///{tmp}/s.db", copies(template, args.single, 0), 1
        )
        rows.append(("SQLite (WAL, BEGIN IMMEDIATE)", sq_batch, sq_single))
    cluster = LocalCluster(find_bindir())
    try:
        server = local_server(cluster)
        server.ensure_roles()
        measured = []
        for label, n, batch in (("b", args.entries, args.batch), ("s", args.single, 1)):
            db = server.create_database(prefix=f"edoc_bench_{label}")
            measured.append(
                await rate(db.app_url, copies(template, n, 0), batch, APP_ROLE, db.owner_url)
            )
        pg_batch, pg_single = measured
        rows.append(("PostgreSQL (asyncpg, advisory lock)", pg_batch, pg_single))
    finally:
        cluster.stop()
        cluster.remove()
    print(f"\n| backend | batched ({args.batch}/tx) entries/s | single-row entries/s | ratio |")
    print("|---|---:|---:|---:|")
    for backend, b, s in rows:
        print(f"| {backend} | {b:,.0f} | {s:,.0f} | {b / s:.1f}× |")


if __name__ == "__main__":
    asyncio.run(main())
