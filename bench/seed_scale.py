"""Seed at scale and report where the time goes.

    python bench/seed_scale.py                      # 10,000 users x 1 month into $BIONICPRO_DATA_DIR
    python bench/seed_scale.py --data-dir /tmp/bench --users 10000 --months 1 --end-date 2024-02-01

Prints generation time (CRM + telemetry arrays + COPY encoding), load time (TRUNCATE + COPY),
index time (rebuilding the telemetry indexes, ANALYZE), the total, rows/s and the peak RSS of this
process (the PostgreSQL server's memory is not included). Replaces the data in the target databases.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=1)
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2024, 2, 1))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="seed into this data dir (embedded PostgreSQL) instead of BIONICPRO_DATA_DIR")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds allowed (exit 1 if over)")
    args = parser.parse_args(argv)

    if args.data_dir is not None:
        os.environ["BIONICPRO_DATA_DIR"] = str(args.data_dir)
        for name in ("CRM_DATABASE_URL", "TELEMETRY_DATABASE_URL"):
            os.environ.pop(name, None)

    from bionicpro.settings import get_settings
    from schema import apply_postgres
    from seed.config import SeedConfig
    from seed.load import load_seed

    settings = get_settings()
    config = SeedConfig(users=args.users, months=args.months, end_date=args.end_date, seed=args.seed)
    print(f"target: {settings.describe()['telemetry_db']}")
    print(f"seeding {config.users} users, {config.start} .. {config.last_day} ({config.period_days} days)")
    apply_postgres(settings)  # starts the embedded server: not part of the measured time

    last = [time.perf_counter()]

    def progress(stage: str, advance: int) -> None:
        if advance:
            now = time.perf_counter()
            print(f"  {stage}: +{advance} day(s) in {now - last[0]:.1f} s", flush=True)
            last[0] = now

    started = time.perf_counter()
    report = load_seed(settings, config, progress)
    total = time.perf_counter() - started

    rows = sum(report.rows.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = report.timings
    print()
    for table, count in report.rows.items():
        print(f"{table:22s} {count:>12,}")
    events = report.rows["telemetry_events"]
    print(f"{'rows':22s} {rows:>12,}")
    print(f"events per day         {events / config.period_days:>12,.0f}")
    print(f"generation             {t.get('generate', 0):>10.1f} s")
    print(f"load (COPY)            {t.get('load', 0):>10.1f} s")
    print(f"indexes + analyze      {t.get('index', 0):>10.1f} s")
    print(f"total                  {total:>10.1f} s   ({rows / total:,.0f} rows/s; "
          f"COPY {rows / max(t.get('load', 1e-9), 1e-9):,.0f} rows/s)")
    print(f"peak RSS (this process){peak_mb:>10.0f} MB")
    print(f"injected mess          {dict(report.stats)}")
    return 0 if total <= args.budget else 1


if __name__ == "__main__":
    raise SystemExit(main())
