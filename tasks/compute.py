"""Compute tasks: the per-day partials and the month's mart candidates, each one SQL file run in
the work warehouse over the run's staged rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from prefect import get_run_logger, task

from bionicpro.db import clickhouse_client
from bionicpro.faults import failpoint
from bionicpro.pgio import read_sql
from bionicpro.settings import WORK, Settings
from tasks.common import DB_TASK, Period, midnight
from tasks.stage import staged_rows


@task(name="compute_partials", **DB_TASK)
def compute_partials(settings: Settings, run_id: str, days: list[date], computed_at: datetime) -> int:
    """Partials of ``days`` from the run's staged telemetry, then their marks (the marks make them count)."""
    params = {"run_id": run_id, "days": days, "computed_at": computed_at,
              "window_start": midnight(days[0]), "window_end": midnight(days[-1] + timedelta(days=1))}
    with clickhouse_client(settings, WORK) as client:
        client.command(read_sql("compute_partials"), parameters=params)
        failpoint(settings, "compute:partials")
        client.command(read_sql("mark_days"), parameters=params)
        failpoint(settings, "compute:marked")
        rows = client.query(read_sql("count_partials"), parameters=params).result_rows[0][0]
    get_run_logger().info("computed %d partial rows for %d day(s)", rows, len(days))
    return int(rows)


@task(name="build_marts", **DB_TASK)
def build_marts(settings: Settings, run_id: str, periods: list[Period]) -> dict[str, int]:
    """Both marts' candidate rows of each month to date."""
    with clickhouse_client(settings, WORK) as client:
        for period in periods:
            params = {"run_id": run_id, "month_start": period.month_start, "period_end": period.period_end}
            client.command(read_sql("build_user_mart"), parameters=params)
            failpoint(settings, "build:user")
            client.command(read_sql("build_prosthetic_mart"), parameters=params)
            failpoint(settings, "build:prosthetic")
        rows = staged_rows(client, run_id, ("user_mart_candidates", "prosthetic_mart_candidates"))
    get_run_logger().info("built %d month(s): %s", len(periods), rows)
    return rows
