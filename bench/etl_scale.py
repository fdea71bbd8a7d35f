"""The ETL at scale against the extraction floor, and the reports API beside a daily run.

    python bench/etl_scale.py                   # 10,000 users, data in .data/bench (make bench)
    python bench/etl_scale.py --users 100000    # 100,000 users, data in .data/bench-100k (make bench-100k)

Seeds the users for January 2024 once (kept if already there), starts a Prefect server, and times,
each in its own process (wall time of the work, peak RSS of that process; run_once.py):
  extraction_floor    PostgreSQL writing the month's event and battery rows (the columns the ETL
                      stages) to /dev/null with a server-side binary COPY: the least any ELT that
                      reads the month out of PostgreSQL can cost
  group_by_counts     context: PostgreSQL alone counting the month per prosthesis (one GROUP BY)
  month_backfill      a one-month backfill from empty, then the same backfill again
  daily_day1          the daily run for 1 January with nothing loaded (memory against the day)
  daily               the daily run for 30 January with days 1-29 loaded and a year of nightly
                      Great Expectations results in the store
  daily_beside_api    the same daily run while bench/api_load.py sends 100 requests/s to a real
                      `bionicpro-api serve`; the API's p50/p99 and errors are those of the
                      requests due while the run worked
Then (10,000 users only) backfills of the last 1, 12 and 52 months of the default profile seeded
into .data/bench-history (`bionicpro seed --end-date 2026-12-04`): cost against months.
Prints the tables and the targets, and writes <data-dir>/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MONTH_START, MONTH_END = date(2024, 1, 1), date(2024, 2, 1)
DAY29, DAY30 = date(2024, 1, 29), date(2024, 1, 30)
HISTORY_END = date(2026, 12, 4)  # exclusive: the history's last day is 3 December 2026
HISTORY_MONTHS = (1, 12, 52)
NIGHTS = 365  # nightly runs whose validation results are in the GX store when `daily` runs
API_RATE = 100
TARGETS = (  # (key, limit, what)
    ("month_backfill_s", "2 x extraction_floor_s", "one-month backfill within 2x the extraction floor"),
    ("daily_s", 3.0, "daily run within 3 s"),
    ("peak_rss_mb_max", 1200.0, "no run above 1,200 MB"),
    ("api_p99_during_daily_ms", 1000.0, "API p99 within 1 s during a daily run"),
)


def scenario(env: dict, name: str, first: date, last: date) -> dict:
    output = subprocess.run([sys.executable, str(ROOT / "bench" / "run_once.py"), name, str(first), str(last)],
                            env=env, cwd=ROOT, capture_output=True, text=True)
    if output.returncode != 0:
        raise SystemExit(f"{name} {first}..{last} failed:\n{output.stdout[-3000:]}\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def clear_marts(settings) -> None:
    """From empty: no mart rows and no load history (serving), no partials and no arrival
    watermark (work warehouse)."""
    from bionicpro.db import clickhouse_client

    tables = {"serving": ("report_user_monthly_metrics", "report_prosthetic_monthly_metrics", "load_log"),
              "work": ("prosthetic_daily_partials", "partial_days", "arrival_checks")}
    for warehouse, names in tables.items():
        database = "reports_db" if warehouse == "serving" else "bionicpro_work"
        with clickhouse_client(settings, warehouse) as client:
            for table in names:
                client.command(f"TRUNCATE TABLE {database}.{table}")


def rows_per_table(settings) -> dict[str, int]:
    from bionicpro.inspect import table_counts

    return {table: rows for _, table, rows in table_counts(settings)}


def store_year_of_results(settings, nights: int = NIGHTS) -> int:
    """A year of earlier nightly runs in the GX store, without running them: the newest stored
    result of each suite (and its Data Docs page) copied under the same run name at run times
    1..``nights`` days earlier, their ``run_time`` rewritten. The store then lists, and the Data Docs
    build weighs, what a year of nights leaves. Returns the files written."""
    uncommitted = settings.gx_dir / "gx" / "uncommitted"
    results, pages = uncommitted / "validations", uncommitted / "data_docs" / "local_site" / "validations"
    newest: dict[Path, Path] = {}  # <suite>/ -> <suite>/<run name>/<run time>/<batch>.json
    for path in results.rglob("*.json"):
        suite = path.parents[2]
        if suite not in newest or path.parent.name > newest[suite].parent.name:
            newest[suite] = path
    written = 0
    for path in newest.values():
        run_time = datetime.strptime(path.parent.name, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=timezone.utc)
        text = path.read_text()
        page = (pages / path.relative_to(results)).with_suffix(".html")
        for night in range(1, nights + 1):
            earlier = run_time - timedelta(days=night)
            target = path.parents[1] / earlier.strftime("%Y%m%dT%H%M%S.%fZ") / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text.replace(run_time.isoformat(), earlier.isoformat()))
            written += 1
            if page.is_file():
                copied = pages / target.relative_to(results).with_suffix(".html")
                copied.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(page, copied)
    return written


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api_beside_daily(stack, env: dict, daily_seconds: float) -> tuple[dict, dict]:
    """The daily run for day 30 while api_load.py drives a real API at API_RATE requests/s.
    Returns (the daily run, the API's figures); latencies are those of requests due during the run."""
    # Defaults for the API and the load: the local key pair, nothing from the caller's shell.
    api_env = {key: value for key, value in env.items() if not key.startswith("BIONICPRO_API_")}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stack.logs.mkdir(parents=True, exist_ok=True)
    with open(stack.logs / "bench-api.log", "ab") as log:
        api = subprocess.Popen([str(Path(sys.executable).with_name("bionicpro-api")), "serve", "--port", str(port),
                                "--no-access-log"], env=api_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    stack.children.append(("bench-api", api))  # stopped with the stack whatever happens
    try:
        stack.wait_healthy(f"{url}/health", "the reports API")
        samples = stack.logs / "bench-api-load.json"
        duration = min(300.0, max(30.0, 3 * daily_seconds + 15))  # covers the run with room either side
        load = subprocess.Popen([sys.executable, str(ROOT / "bench" / "api_load.py"), "--base-url", url,
                                 "--rate", str(API_RATE), "--duration", f"{duration:.0f}", "--json", str(samples)],
                                env=api_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first_line = load.stdout.readline()  # printed once the pairs are read and tokens minted
        time.sleep(3)  # a few seconds of load before the run starts
        daily = scenario(env, "daily", MONTH_START, DAY30)
        printed = first_line + load.communicate()[0]
        if not samples.is_file():
            raise SystemExit(f"api_load.py wrote no results:\n{printed[-3000:]}")
        measured = json.loads(samples.read_text())
        with open(f"/proc/{api.pid}/status") as status:  # the API's own peak RSS, before it stops
            api_peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    finally:
        api.terminate()
        api.wait(20)
    during = sorted(ms for due, ms, _ in measured["requests"] if daily["started_at"] <= due <= daily["ended_at"])
    errors = sum(1 for due, _, outcome in measured["requests"]
                 if daily["started_at"] <= due <= daily["ended_at"] and outcome != 200)

    def pct(q: float) -> float:
        return during[min(len(during) - 1, int(q * len(during)))] if during else float("nan")

    return daily, {"rate": API_RATE, "requests_during_daily": len(during), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
                   "max_ms": during[-1] if during else float("nan"), "errors": errors,
                   "whole_load": {k: measured[k] for k in ("sent", "wall_s", "p50_ms", "p99_ms", "max_ms", "errors",
                                                           "outcomes", "chdb_turns")},
                   "api_peak_rss_mb": api_peak_kb / 1024}


def months_backfilled(env: dict, data_dir: Path) -> list[dict]:
    """Backfills of the last 1, 12 and 52 months of the default profile, each from empty."""
    from bionicpro.settings import Settings
    from schema import apply_all
    from seed import SeedConfig, seed_database

    settings = Settings(BIONICPRO_DATA_DIR=str(data_dir))
    apply_all(settings)
    if not rows_per_table(settings)["telemetry_events"]:
        seed_database(settings, SeedConfig(end_date=HISTORY_END))  # = bionicpro seed --end-date 2026-12-04
    env = {**env, "BIONICPRO_DATA_DIR": str(data_dir)}
    last = HISTORY_END - timedelta(days=1)
    runs = []
    for months in HISTORY_MONTHS:
        index = last.year * 12 + last.month - 1 - (months - 1)
        first = date(index // 12, index % 12 + 1, 1)
        clear_marts(settings)
        run = scenario(env, "backfill", first, last)
        runs.append({"months": months, "first": str(first), "last": str(last), "seconds": run["seconds"],
                     "peak_rss_mb": run["peak_rss_mb"], "result": run["result"]})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="default .data/bench (10,000 users) or .data/bench-<users/1000>k")
    args = parser.parse_args()
    default_dir = "bench" if args.users == 10_000 else f"bench-{args.users // 1000}k"
    data_dir = (args.data_dir or ROOT / ".data" / default_dir).resolve()
    os.environ["BIONICPRO_DATA_DIR"] = str(data_dir)
    for name in ("CRM_DATABASE_URL", "TELEMETRY_DATABASE_URL", "CLICKHOUSE_URL", "CLICKHOUSE_WORK_URL"):
        os.environ.pop(name, None)

    from bionicpro.settings import get_settings
    from bionicpro.stack import Stack
    from schema import apply_all
    from seed import SeedConfig, seed_database

    settings = get_settings()
    apply_all(settings)  # joins the embedded PostgreSQL for the whole benchmark
    counts = rows_per_table(settings)
    if counts["crm_users"] != args.users or counts["telemetry_events"] == 0:
        print(f"seeding {args.users:,} users for January 2024 ...", flush=True)
        started = time.perf_counter()
        seed_database(settings, SeedConfig(users=args.users, months=1, end_date=MONTH_END))
        print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
        counts = rows_per_table(settings)
    events = counts["telemetry_events"]
    print(f"{counts['crm_users']:,} users, {counts['crm_prosthetics']:,} prostheses, {events:,} events, "
          f"{counts['battery_metrics']:,} battery samples", flush=True)
    shutil.rmtree(settings.gx_dir, ignore_errors=True)  # every bench starts from the same GX store: none

    stack = Stack(settings, int(os.environ.get("BIONICPRO_PREFECT_PORT", "4233")))
    stack.spawn("prefect-server", str(Path(sys.executable).with_name("prefect")), "server", "start",
                "--host", "127.0.0.1", "--port", str(stack.port))
    runs, history = {}, []
    try:
        stack.wait_healthy(f"{stack.api_url}/health", "the Prefect server")
        env = stack.env

        def step(key: str, name: str, first: date, last: date) -> None:
            runs[key] = scenario(env, name, first, last)
            print(f"  {key}: {runs[key]['seconds']:.1f} s, {runs[key]['peak_rss_mb']:.0f} MB", flush=True)

        clear_marts(settings)
        step("extraction_floor", "floor", MONTH_START, MONTH_END)
        step("group_by_counts", "counts", MONTH_START, MONTH_END)
        step("month_backfill", "backfill", MONTH_START, MONTH_END - timedelta(days=1))
        step("month_backfill_again", "backfill", MONTH_START, MONTH_END - timedelta(days=1))
        clear_marts(settings)
        step("daily_day1", "daily", MONTH_START, MONTH_START)
        clear_marts(settings)
        scenario(env, "backfill", MONTH_START, DAY29)  # days 1-29 loaded: not measured
        print(f"  GX store: {store_year_of_results(settings)} validation results of {NIGHTS} earlier nights",
              flush=True)
        scenario(env, "docs", MONTH_START, MONTH_START)  # their Data Docs, as the nights left them
        step("daily", "daily", MONTH_START, DAY30)
        clear_marts(settings)
        scenario(env, "backfill", MONTH_START, DAY29)  # days 1-29 loaded again: not measured
        runs["daily_beside_api"], api = api_beside_daily(stack, env, runs["daily"]["seconds"])
        print(f"  daily_beside_api: {runs['daily_beside_api']['seconds']:.1f} s; API p99 {api['p99_ms']:.0f} ms",
              flush=True)
        if args.users == 10_000:  # the default profile does not depend on --users
            history = months_backfilled(env, data_dir.with_name("bench-history"))
    finally:
        stack.stop()

    report(data_dir, counts, runs, api, history)


def report(data_dir: Path, counts: dict, runs: dict, api: dict, history: list[dict]) -> None:
    events, floor = counts["telemetry_events"], runs["extraction_floor"]["seconds"]
    labels = {
        "month_backfill": "month_backfill_s: one-month backfill from empty",
        "month_backfill_again": "month_backfill_again_s: the same backfill again",
        "extraction_floor": "extraction_floor_s: PostgreSQL binary COPY of the month to /dev/null",
        "group_by_counts": "context: PostgreSQL GROUP BY of the month per prosthesis",
        "daily": f"daily run, day 30 (days 1-29 loaded, {NIGHTS} nights of GX results)",
        "daily_day1": "daily run, day 1 (nothing loaded)",
        "daily_beside_api": f"daily run, day 30, beside the API at {API_RATE} req/s",
    }
    # wall s: the process from start (Python, Prefect and GX imports included); flow s: the flow's
    # own work, what daily_s is ("the flow's work"). The month backfill is judged on wall s.
    print("\n| run | wall s | flow s | peak RSS MB | events/s | x floor |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, label in labels.items():
        run = runs[key]
        volume = events / 31 if key.startswith("daily") else events
        print(f"| {label} | {run['seconds']:.1f} | {run['flow_seconds']:.1f} | {run['peak_rss_mb']:.0f} | "
              f"{volume / run['seconds']:,.0f} | {run['seconds'] / floor:.2f} |")

    results = {
        "users": counts["crm_users"], "events": events, "battery_samples": counts["battery_metrics"],
        "cores": os.cpu_count(),
        **{f"{key}_s": runs[key]["seconds"] for key in labels},
        **{f"{key}_flow_s": runs[key]["flow_seconds"] for key in labels},
        "daily_process_s": runs["daily"]["seconds"],
        "daily_s": runs["daily"]["flow_seconds"],  # the definition: the flow's work
        "peak_rss_mb": {key: runs[key]["peak_rss_mb"] for key in labels},
        "peak_rss_mb_max": max(runs[key]["peak_rss_mb"] for key in labels),
        "api_p50_during_daily_ms": api["p50_ms"], "api_p99_during_daily_ms": api["p99_ms"],
        "api_errors_during_daily": api["errors"], "api": api,
        **{f"history_backfill_{h['months']}_s": h["seconds"] for h in history},
        "history": history, "runs": runs,
    }
    print(f"\nAPI at {API_RATE} req/s during the daily run (day 30): {api['requests_during_daily']} requests, "
          f"p50 {api['p50_ms']:.1f} ms, p99 {api['p99_ms']:.1f} ms, max {api['max_ms']:.1f} ms, "
          f"errors {api['errors']}; whole load {api['whole_load']['sent']} requests, p99 "
          f"{api['whole_load']['p99_ms']:.1f} ms, errors {api['whole_load']['errors']}; "
          f"API peak RSS {api['api_peak_rss_mb']:.0f} MB")
    if history:
        print("\nBackfills of the default profile (cost against months):\n")
        print("| months | first..last | wall s | s per month | peak RSS MB |")
        print("|---:|---|---:|---:|---:|")
        for h in history:
            print(f"| {h['months']} | {h['first']}..{h['last']} | {h['seconds']:.1f} | "
                  f"{h['seconds'] / h['months']:.2f} | {h['peak_rss_mb']:.0f} |")

    print("\nTargets:")
    results["targets"] = {}
    for key, limit, what in TARGETS:
        bound = 2 * floor if isinstance(limit, str) else limit
        met = results[key] <= bound
        results["targets"][key] = {"value": results[key], "limit": bound, "rule": f"{key} <= {limit}", "met": met}
        print(f"  {key} = {results[key]:.2f} <= {limit} ({bound:.2f}): {'met' if met else 'NOT met'}  ({what})")
    path = data_dir / "results.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
