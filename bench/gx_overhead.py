"""Measure the Great Expectations overhead of ``expectations.runner``.

    python bench/gx_overhead.py                 # all scenarios, 20 timed calls each
    python bench/gx_overhead.py --calls 5 --skip-500k
    python bench/gx_overhead.py --runner /path/to/runner.py   # another runner module (A/B)

Scenarios (each after one warm-up call, in a fresh temporary GX project):

- ``crm``: ``validate()`` on the 5 small CRM frames (a few hundred rows each);
- ``telemetry 20k`` / ``telemetry 500k``: ``validate()`` on the 2 clean telemetry frames
  (``telemetry_events`` + ``battery_metrics``) of that many rows each;
- ``build_docs``: ``build_docs()`` with 200 stored validation results (first build, then a
  rebuild with nothing new, then a rebuild after one more ``validate()`` call). A runner without
  ``build_docs`` (the old one, which built the docs inside ``validate()``) is measured with a full
  ``context.build_data_docs()`` instead.
- ``backfill`` (only with ``--backfill N``): N monthly runs, 2 at a time on threads of this
  process, each validating the CRM frames, the telemetry frames (``--backfill-rows`` rows each)
  and the 2 marts, then calling ``build_docs()`` once (as the flow does); prints the wall time.

Prints seconds per call (mean / median / min) and, for ``validate()``, per dataset.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expectations import frames as F  # noqa: E402

EVENT_TYPES = ("power_on", "power_off", "grip", "release", "sensor_reading", "calibration")


def _load_runner(path: str | None):
    if path is None:
        import expectations.runner as runner

        return runner
    spec = importlib.util.spec_from_file_location("expectations._bench_runner", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def crm_frames(rows: int = 200) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(1)
    users = pd.DataFrame(
        {
            "user_id": np.arange(1, rows + 1),
            "user_uuid": [f"u-{i}" for i in range(1, rows + 1)],
            "created_at": pd.Timestamp("2023-01-01"),
        }
    )
    prosthetics = pd.DataFrame(
        {
            "prosthetic_id": np.arange(1, rows + 1),
            "user_id": users["user_id"],
            "device_type": rng.choice(["arm", "hand", "leg", "foot"], rows),
            "purchase_date": pd.Timestamp("2023-06-01").date(),
        }
    )
    payments = pd.DataFrame(
        {
            "payment_id": np.arange(1, rows + 1),
            "user_id": users["user_id"],
            "amount": rng.uniform(0, 100, rows).round(2),
            "status": rng.choice(["success", "failed", "pending"], rows),
        }
    )
    subscriptions = pd.DataFrame(
        {
            "subscription_id": np.arange(1, rows + 1),
            "user_id": users["user_id"],
            "monthly_cost": rng.uniform(0, 50, rows).round(2),
            "start_date": pd.Timestamp("2023-01-01"),
            "end_date": [None if i % 3 else pd.Timestamp("2024-01-01") for i in range(rows)],
        }
    )
    tickets = pd.DataFrame(
        {
            "ticket_id": np.arange(1, rows + 1),
            "user_id": users["user_id"],
            "created_at": pd.Timestamp("2024-01-01"),
            "resolved_at": [None if i % 2 else pd.Timestamp("2024-01-02") for i in range(rows)],
        }
    )
    return {
        "crm_users": F.users_frame(users),
        "crm_prosthetics": F.prosthetics_frame(prosthetics),
        "crm_payments": F.payments_frame(payments, users["user_id"]),
        "crm_subscriptions": F.subscriptions_frame(subscriptions),
        "crm_support_tickets": F.tickets_frame(tickets),
    }


def telemetry_frames(rows: int, devices: int = 1000) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(2)
    prosthetics = pd.DataFrame(
        {
            "prosthetic_id": np.arange(1, devices + 1),
            "user_id": np.arange(1, devices + 1),
            "purchase_date": pd.Timestamp("2023-06-01").date(),
        }
    )
    start = pd.Timestamp("2024-02-01").value
    times = pd.to_datetime(start + rng.integers(0, 28 * 86400, rows) * 1_000_000_000)
    device = rng.integers(1, devices + 1, rows)
    delay = pd.to_timedelta(rng.integers(0, 600, rows), unit="s")
    events = pd.DataFrame(
        {
            "event_id": np.arange(1, rows + 1),
            "prosthetic_id": device,
            "user_id": device,
            "event_type": rng.choice(EVENT_TYPES, rows),
            "severity": rng.choice(["info", "warning", "error", "critical"], rows),
            "event_timestamp": times,
            "created_at": times + delay,
        }
    )
    charging = rng.random(rows) < 0.3
    samples = pd.DataFrame(
        {
            "metric_id": np.arange(1, rows + 1),
            "prosthetic_id": device,
            "metric_timestamp": times,
            "charge_level": rng.uniform(0, 100, rows).round(2),
            "current_ma": np.where(charging, 500, -100),
            "is_charging": charging,
            "created_at": times + delay,
        }
    )
    return {
        "telemetry_events": F.telemetry_events_frame(events, prosthetics, prosthetics["user_id"]),
        "battery_metrics": F.battery_metrics_frame(samples, prosthetics),
    }


def mart_frames(rows: int = 500) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(3)
    ids = np.arange(1, rows + 1)
    money = rng.uniform(0, 100, rows).round(2)
    user_mart = pd.DataFrame(
        {
            "report_date": pd.Timestamp("2024-02-01").date(),
            "user_id": ids,
            "total_payments": money,
            "successful_payments": (money * 0.5).round(2),
            "subscription_cost_total": rng.uniform(0, 50, rows).round(2),
            "failed_payments_count": rng.integers(0, 3, rows),
            "active_subscriptions_count": rng.integers(0, 3, rows),
            "support_tickets_opened": rng.integers(0, 3, rows),
            "support_tickets_resolved": 0,
        }
    )
    prosthetic_mart = pd.DataFrame(
        {
            "report_date": pd.Timestamp("2024-02-01").date(),
            "prosthetic_id": ids,
            "user_id": ids,
            "total_active_hours": rng.uniform(0, 300, rows),
            "downtime_minutes": rng.integers(0, 600, rows),
            **{c: rng.uniform(0, 10, rows) for c in (
                "avg_discharge_rate_active", "avg_discharge_rate_idle", "avg_charge_rate")},
            **{c: rng.integers(0, 5, rows) for c in (
                "power_on_count", "power_off_count", "charge_cycles", "warning_count",
                "error_count", "critical_error_count")},
        }
    )
    return {
        "report_user_monthly_metrics": F.user_mart_frame(user_mart),
        "report_prosthetic_monthly_metrics": F.prosthetic_mart_frame(prosthetic_mart),
    }


def _backfill(runner, gx_dir: Path, months: int, rows: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    crm, telemetry, marts = crm_frames(), telemetry_frames(rows), mart_frames()
    gx_seconds = [0.0] * months

    def month(i: int) -> None:
        t0 = time.perf_counter()
        for name, frames in (("crm", crm), ("telemetry", telemetry), ("marts", marts)):
            runner.validate(frames, gx_dir, f"{name}-m{i:02d}", {"max_hours": 744.0})
        if hasattr(runner, "build_docs"):  # the old runner built the docs inside validate()
            runner.build_docs(gx_dir)
        gx_seconds[i] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(month, range(months)))
    wall = time.perf_counter() - t0
    print(
        f"backfill {months} monthly runs (2 threads, telemetry 2 x {rows} rows): wall {wall:.2f} s,"
        f" {wall / months:.3f} s per run; per run (3 validate + build_docs, incl. waiting for"
        f" the other thread) mean {statistics.mean(gx_seconds):.3f} s",
        flush=True,
    )


def _stats(name: str, seconds: list[float], datasets: int | None = None) -> None:
    mean, median, low = statistics.mean(seconds), statistics.median(seconds), min(seconds)
    line = (
        f"{name:<28} n={len(seconds):<3} mean {mean:7.3f} s  median {median:7.3f} s"
        f"  min {low:7.3f} s"
    )
    if datasets:
        line += f"  | per dataset: mean {mean / datasets:6.3f} s"
    print(line, flush=True)


def _time_validate(runner, name, frames, gx_dir, calls, params=None) -> None:
    report = runner.validate(frames, gx_dir, f"{name}-warmup", params)  # warm-up
    assert report.success, report.to_markdown()
    seconds = []
    for i in range(calls):
        t0 = time.perf_counter()
        report = runner.validate(frames, gx_dir, f"{name}-{i}", params)
        seconds.append(time.perf_counter() - t0)
    assert report.success, report.to_markdown()
    _stats(f"validate {name}", seconds, len(frames))


def _docs(runner, gx_dir: Path) -> None:
    if hasattr(runner, "build_docs"):
        runner.build_docs(gx_dir)
        return
    import great_expectations as gx

    gx.get_context(mode="file", project_root_dir=str(gx_dir)).build_data_docs(
        site_names=[runner.DOCS_SITE]
    )


def _count_results(gx_dir: Path) -> int:
    root = gx_dir / "gx" / "uncommitted" / "validations"
    return sum(1 for _ in root.rglob("*.json")) if root.exists() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--runner", default=None, help="path of a runner module to measure")
    parser.add_argument("--skip-500k", action="store_true")
    parser.add_argument("--only", choices=["crm", "20k", "500k", "docs"], action="append")
    parser.add_argument("--backfill", type=int, default=0, metavar="N",
                        help="also time N monthly runs, 2 at a time (e.g. 37)")
    parser.add_argument("--backfill-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    only = set(args.only or (["crm", "20k", "500k", "docs"] if not args.backfill else []))
    if args.skip_500k:
        only.discard("500k")

    t0 = time.perf_counter()
    runner = _load_runner(args.runner)
    print(f"runner: {runner.__file__} (import {time.perf_counter() - t0:.2f} s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="gx-bench-") as tmp:
        gx_dir = Path(tmp)
        if "crm" in only:
            _time_validate(runner, "crm (5 x 200 rows)", crm_frames(), gx_dir, args.calls)
        for rows, key in ((20_000, "20k"), (500_000, "500k")):
            if key in only:
                frames = telemetry_frames(rows)
                _time_validate(runner, f"telemetry 2 x {rows}", frames, gx_dir, args.calls)
        if "docs" in only:
            small = crm_frames(20)
            calls = 0
            while _count_results(gx_dir) < 200:
                runner.validate(small, gx_dir, f"fill-{calls}")
                calls += 1
            stored = _count_results(gx_dir)
            gc.collect()  # a collection of the big heap left by the frames would dominate
            t1 = time.perf_counter()
            _docs(runner, gx_dir)
            first = time.perf_counter() - t1
            gc.collect()
            t1 = time.perf_counter()
            _docs(runner, gx_dir)
            again = time.perf_counter() - t1
            runner.validate(small, gx_dir, "one-more")
            gc.collect()
            t1 = time.perf_counter()
            _docs(runner, gx_dir)
            after_one = time.perf_counter() - t1
            print(
                f"build_docs ({stored} stored results): first {first:.3f} s, unchanged "
                f"{again:.3f} s, after one more validate() {after_one:.3f} s",
                flush=True,
            )
    if args.backfill:
        with tempfile.TemporaryDirectory(prefix="gx-backfill-") as tmp:
            runner.validate(crm_frames(), Path(tmp), "warm-up")  # the project exists
            _backfill(runner, Path(tmp), args.backfill, args.backfill_rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
