"""The ETL at 10,000 users against the in-database floor.

    python bench/etl_scale.py [--data-dir .data/bench] [--users 10000]

Seeds 10,000 users for January 2024 (kept if already there), starts a Prefect server, and times,
each in its own process (wall time of the work, peak RSS of the process):
  (a) the scheduled daily run for 30 January with 1..29 January already loaded,
  (b) a one-month backfill from empty, (c) the same backfill again,
  (d) the floor: PostgreSQL alone counting the month per prosthesis with one GROUP BY,
  (e) the daily run for 1 January (nothing loaded before): memory against the day of the month,
  (f) for context, PostgreSQL alone doing the counting the marts need (resends removed, counts
      per prosthesis, day, type and severity): what "in the database" costs with the same work.
Then, on the default profile seeded into ``<data-dir>-history`` (30 months of telemetry, users
from two years before), backfills of the last 1, 12 and all months: memory against the number of
months backfilled.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MONTH_START, MONTH_END, LAST_DAY = date(2024, 1, 1), date(2024, 2, 1), date(2024, 1, 31)


def scenario(env: dict, name: str, first: date, last: date) -> dict:
    output = subprocess.run([sys.executable, str(ROOT / "bench" / "run_once.py"), name, str(first), str(last)],
                            env=env, cwd=ROOT, capture_output=True, text=True)
    if output.returncode != 0:
        raise SystemExit(f"{name} failed:\n{output.stdout[-3000:]}\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def clear_marts(settings) -> None:
    """From empty: no partials, no mart rows, no load history for the month."""
    from bionicpro.db import clickhouse_client

    with clickhouse_client(settings) as client:
        for table in ("prosthetic_daily_partials", "partial_days", "report_user_monthly_metrics",
                      "report_prosthetic_monthly_metrics", "load_log", "arrival_checks"):
            client.command(f"TRUNCATE TABLE reports_db.{table}")


def rows_per_table(settings) -> dict[str, int]:
    from bionicpro.inspect import table_counts

    return {table: rows for _, table, rows in table_counts(settings)}


def months_backfilled(env: dict, data_dir: Path) -> list[tuple[int, date, date, dict]]:
    """Backfills of the last 1 and 12 months and of the whole history of the default profile."""
    from bionicpro.inspect import first_source_day
    from bionicpro.settings import Settings
    from schema import apply_all
    from seed import SeedConfig, seed_database

    settings = Settings(BIONICPRO_DATA_DIR=str(data_dir))
    apply_all(settings)
    if not rows_per_table(settings)["telemetry_events"]:
        seed_database(settings, SeedConfig(end_date=MONTH_END))
    env = {**env, "BIONICPRO_DATA_DIR": str(data_dir)}
    first_day = first_source_day(settings)
    runs = []
    for first in (MONTH_START, date(2023, 2, 1), first_day):
        months = (LAST_DAY.year - first.year) * 12 + LAST_DAY.month - first.month + 1
        runs.append((months, first, LAST_DAY, scenario(env, "backfill", first, LAST_DAY)))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data" / "bench")
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    os.environ["BIONICPRO_DATA_DIR"] = str(args.data_dir.resolve())
    for name in ("CRM_DATABASE_URL", "TELEMETRY_DATABASE_URL", "CLICKHOUSE_URL"):
        os.environ.pop(name, None)

    from bionicpro.settings import get_settings
    from bionicpro.stack import Stack
    from schema import apply_all
    from seed import SeedConfig, seed_database

    settings = get_settings()
    apply_all(settings)  # joins the embedded PostgreSQL for the whole benchmark
    counts = rows_per_table(settings)
    if counts["crm_users"] != args.users or counts["telemetry_events"] == 0:
        print(f"seeding {args.users} users for January 2024 ...", flush=True)
        started = time.perf_counter()
        seed_database(settings, SeedConfig(users=args.users, months=1, end_date=MONTH_END))
        print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
        counts = rows_per_table(settings)
    events = counts["telemetry_events"]
    print(f"{counts['crm_users']:,} users, {counts['crm_prosthetics']:,} prostheses, {events:,} events, "
          f"{counts['battery_metrics']:,} battery samples", flush=True)

    stack = Stack(settings, int(os.environ.get("BIONICPRO_PREFECT_PORT", "4233")))
    stack.spawn("prefect-server", str(Path(sys.executable).with_name("prefect")), "server", "start",
                "--host", "127.0.0.1", "--port", str(stack.port))
    try:
        stack.wait_healthy(f"{stack.api_url}/health", "the Prefect server")
        env = stack.env
        results = {}
        clear_marts(settings)
        results["floor"] = scenario(env, "floor", MONTH_START, MONTH_END)
        results["same_work"] = scenario(env, "same_work", MONTH_START, MONTH_END)
        results["backfill"] = scenario(env, "backfill", MONTH_START, LAST_DAY)
        results["rerun"] = scenario(env, "backfill", MONTH_START, LAST_DAY)
        clear_marts(settings)
        results["day1"] = scenario(env, "daily", MONTH_START, MONTH_START)
        scenario(env, "daily", MONTH_START, date(2024, 1, 29))  # days 2..29 loaded: not measured
        results["daily"] = scenario(env, "daily", MONTH_START, date(2024, 1, 30))
        history = months_backfilled(env, args.data_dir.resolve().with_name(args.data_dir.name + "-history"))
    finally:
        stack.stop()

    floor = results["floor"]["seconds"]
    print()
    print("| run | wall s | peak RSS MB | events/s | x floor |")
    print("|---|---:|---:|---:|---:|")
    labels = {"daily": "(a) daily run, day 30 (days 1-29 loaded)", "backfill": "(b) one-month backfill from empty",
              "rerun": "(c) the same backfill again", "floor": "(d) floor: PostgreSQL GROUP BY of the month"}
    labels["day1"] = "(e) daily run, day 1 (nothing loaded)"
    labels["same_work"] = "(f) context: PostgreSQL alone, resends removed, counts per prosthesis, day, type, severity"
    for key in ("daily", "backfill", "rerun", "floor", "day1", "same_work"):
        r = results[key]
        volume = events / 31 if key in ("daily", "day1") else events
        print(f"| {labels[key]} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {volume / r['seconds']:,.0f} | "
              f"{r['seconds'] / floor:.2f} |")
    print(f"\nmachine: {os.cpu_count()} cores; ratios (b)/(d) = {results['backfill']['seconds'] / floor:.2f}, "
          f"(a)/(d) = {results['daily']['seconds'] / floor:.2f}, (b)/(f) = "
          f"{results['backfill']['seconds'] / results['same_work']['seconds']:.2f}")
    print("\nBackfills of the default profile (memory against months backfilled):\n")
    print("| months | first..last | wall s | peak RSS MB |")
    print("|---:|---|---:|---:|")
    for months, first, last, r in history:
        print(f"| {months} | {first}..{last} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
