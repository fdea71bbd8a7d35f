"""One benchmark scenario in its own process, so its peak RSS is its own; prints one JSON line
(``seconds``: the process from start, imports included; ``flow_seconds``: the flow call alone).

    python bench/run_once.py floor|counts FIRST END     # PostgreSQL alone, [FIRST, END)
    python bench/run_once.py backfill FIRST LAST        # bionicpro_backfill(FIRST, LAST, mode="all")
    python bench/run_once.py daily FIRST LAST           # bionicpro_etl_daily(report_date=LAST)
    python bench/run_once.py docs FIRST LAST            # rebuild the Data Docs (preparation, dates unused)
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_sql(name: str) -> list[str]:
    """The statements of ``bench/sql/<name>.sql`` (bench queries are not the pipeline's)."""
    text = (ROOT / "bench" / "sql" / f"{name}.sql").read_text(encoding="utf-8")
    return [statement for statement in text.split(";\n") if statement.strip()]


def in_postgres(scenario: str, first: date, end: date) -> tuple[dict, float]:
    from bionicpro.db import pg_connection
    from bionicpro.settings import TELEMETRY_DB, get_settings

    params = {"month_start": first, "month_end": end}
    with pg_connection(get_settings(), TELEMETRY_DB) as conn, conn.cursor() as cur:
        started = time.perf_counter()  # connected: only the queries are timed
        if scenario == "counts":
            cur.execute(bench_sql("group_by_counts")[0], params)
            return {"prostheses": len(cur.fetchall())}, time.perf_counter() - started
        # The embedded server's own user is the superuser `postgres`: it may COPY to a server file.
        copied = []
        for statement in bench_sql("extraction_floor"):
            cur.execute(statement, params)
            copied.append(cur.rowcount)
        return {"event_rows": copied[0], "battery_rows": copied[1]}, time.perf_counter() - started


def build_docs() -> str:
    """The flows' own Data Docs task, in a flow run of its own (it logs through Prefect)."""
    from prefect import flow

    from bionicpro.settings import get_settings
    from tasks.validate import build_data_docs

    @flow(name="bench_build_docs")
    def docs() -> str:
        return build_data_docs(get_settings())

    return docs()


def main() -> None:
    scenario, first, last = sys.argv[1], date.fromisoformat(sys.argv[2]), date.fromisoformat(sys.argv[3])
    started_at, started = time.time(), time.perf_counter()
    seconds = flow_seconds = None
    if scenario in ("floor", "counts"):
        result, seconds = in_postgres(scenario, first, last)
    elif scenario == "daily":
        from flows.daily import bionicpro_etl_daily

        flow_started = time.perf_counter()  # imported: from here on, the flow's own work
        result = bionicpro_etl_daily(report_date=last)
        flow_seconds = time.perf_counter() - flow_started
    elif scenario == "backfill":
        from flows.backfill import bionicpro_backfill

        flow_started = time.perf_counter()
        table = bionicpro_backfill(start_date=first, end_date=last, mode="all")
        flow_seconds = time.perf_counter() - flow_started
        result = {"months": len(table), "user_rows": sum(r["user_rows"] or 0 for r in table),
                  "prosthetic_rows": sum(r["prosthetic_rows"] or 0 for r in table),
                  "status": sorted({r["status"] for r in table})}
    elif scenario == "docs":
        result = {"index": build_docs()}
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    seconds = seconds or time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"scenario": scenario, "seconds": seconds, "flow_seconds": flow_seconds or seconds,
                      "peak_rss_mb": peak_mb, "started_at": started_at,
                      "ended_at": started_at + seconds, "result": result}, default=str))


if __name__ == "__main__":
    main()
