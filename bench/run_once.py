"""One benchmark scenario in its own process, so its peak RSS is its own; prints one JSON line."""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    scenario, first, last = sys.argv[1], date.fromisoformat(sys.argv[2]), date.fromisoformat(sys.argv[3])
    if scenario in ("floor", "same_work"):
        from bionicpro.db import pg_connection
        from bionicpro.pgio import fetch_rows
        from bionicpro.settings import TELEMETRY_DB, get_settings

        started = time.perf_counter()
        with pg_connection(get_settings(), TELEMETRY_DB) as conn:
            if scenario == "floor":
                rows = fetch_rows(conn, "bench_floor_counts", {"month_start": first, "month_end": last})
                result = {"prostheses": len(rows)}
            else:
                with conn.cursor() as cur:  # room to sort the month in memory, not on disk
                    cur.execute("SET LOCAL work_mem = '1GB'")
                groups, counted = fetch_rows(conn, "bench_same_work_floor", {"month_start": first, "month_end": last})[0]
                result = {"groups": groups, "events": int(counted)}
        seconds = time.perf_counter() - started
    else:
        from flows.backfill import bionicpro_backfill
        from flows.daily import bionicpro_etl_daily

        started = time.perf_counter()
        if scenario == "daily":
            result = bionicpro_etl_daily(report_date=last, catch_up=False)
        else:
            table = bionicpro_backfill(start_date=first, end_date=last, mode="all")
            result = {k: table[0][k] for k in ("user_rows", "prosthetic_rows", "status")}
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"scenario": scenario, "seconds": seconds, "peak_rss_mb": peak_mb, "result": result}))


if __name__ == "__main__":
    main()
