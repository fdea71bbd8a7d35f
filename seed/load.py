"""Loading the generated tables: TRUNCATE, then COPY (CSV for the CRM, binary for telemetry).

Telemetry is generated and copied a chunk of days at a time, so memory stays bounded whatever the
number of users. The telemetry tables' secondary indexes are dropped before the COPY and rebuilt
after it (two connections in parallel), then ``schema.apply_postgres`` recreates anything still
missing and the tables are analysed.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from bionicpro.db import pg_connection
from bionicpro.settings import CRM_DB, TELEMETRY_DB, Settings
from seed.config import SeedConfig
from seed.generate import (
    BATTERY_COLUMNS, EVENT_COLUMNS, EVENT_TYPES, SEVERITIES, generate_crm, telemetry_chunks,
)
from seed.pgcopy import HEADER, TRAILER, encode_block, scatter_blocks

Progress = Callable[[str, int], None]

CRM_TABLES = ("crm_users", "crm_prosthetics", "crm_subscriptions", "crm_payments", "crm_support_tickets")
TELEMETRY_TABLES = ("telemetry_events", "battery_metrics")
TABLES = CRM_TABLES + TELEMETRY_TABLES
COPY_BUFFER = 1 << 20


@dataclass
class SeedReport:
    """What a seed run did: rows per table, what mess it injected, and where the time went."""

    rows: dict[str, int]
    stats: Counter = field(default_factory=Counter)
    anomalies: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _noop(stage: str, advance: int) -> None:
    pass


def load_seed(settings: Settings, config: SeedConfig, progress: Progress | None = None) -> SeedReport:
    """Replace the contents of the seven source tables with the data of ``config``.

    ``progress(stage, advance)`` is called as the run goes: ``advance`` counts days of the period
    (their sum is ``config.period_days``); stages with ``advance == 0`` only name the current step.
    """
    config = config.resolved()
    progress = progress or _noop
    timings: Counter = Counter()
    started = time.perf_counter()

    def timed(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] += now - since
        return now

    progress("crm", 0)
    clock = time.perf_counter()
    crm = generate_crm(config)
    clock = timed("generate", clock)
    rows: dict[str, int] = {}
    stats: Counter = Counter()
    # one transaction per database; the CRM commits only once the telemetry is in
    with pg_connection(settings, CRM_DB) as crm_conn, crm_conn.cursor() as crm_cur:
        crm_cur.execute(f"TRUNCATE {', '.join(CRM_TABLES)} CASCADE")
        for table, frame in crm.tables().items():
            copy_csv(crm_cur, table, frame)
            rows[table] = len(frame)
        clock = timed("load", clock)

        rows["telemetry_events"] = rows["battery_metrics"] = 0
        with pg_connection(settings, TELEMETRY_DB) as conn, conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            cur.execute(f"TRUNCATE {', '.join(TELEMETRY_TABLES)} CASCADE")
            indexes = drop_secondary_indexes(cur, TELEMETRY_TABLES)
            clock = timed("load", clock)
            for chunk in telemetry_chunks(config, crm.prosthetics):
                events = encode_events(chunk.events)
                battery = encode_battery(chunk.battery)
                clock = timed("generate", clock)
                copy_binary(cur, "telemetry_events", EVENT_COLUMNS, events)
                copy_binary(cur, "battery_metrics", BATTERY_COLUMNS, battery)
                del events, battery
                clock = timed("load", clock)
                rows["telemetry_events"] += chunk.events["event_id"].size
                rows["battery_metrics"] += chunk.battery["metric_id"].size
                stats.update(chunk.stats)
                progress(f"telemetry to {config.start + timedelta(days=chunk.first_day + chunk.days - 1)}", chunk.days)
                del chunk  # free it before the next one is generated
    del crm
    clock = timed("load", clock)

    progress("indexes", 0)
    create_indexes(settings, TELEMETRY_DB, indexes)
    from schema import apply_postgres

    apply_postgres(settings)
    with pg_connection(settings, TELEMETRY_DB) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for table in TELEMETRY_TABLES:
                cur.execute(f"ANALYZE {table}")
    with pg_connection(settings, CRM_DB) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for table in CRM_TABLES:
                cur.execute(f"ANALYZE {table}")
    clock = timed("index", clock)

    anomalies: dict[str, int] = {}
    if config.anomalies:
        from seed.anomalies import insert_anomalies_counted

        progress("anomalies", 0)
        anomalies, added = insert_anomalies_counted(settings, config.last_day)
        for table, count in added.items():
            rows[table] += count
        clock = timed("load", clock)
    timings["total"] = time.perf_counter() - started
    progress("done", 0)
    return SeedReport(rows=rows, stats=stats, anomalies=anomalies, timings=dict(timings))


# ---------------------------------------------------------------------------------------------


def copy_csv(cur, table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="", date_format="%Y-%m-%d %H:%M:%S")
    buffer.seek(0)
    columns = ", ".join(frame.columns)
    cur.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer, size=COPY_BUFFER)


def copy_binary(cur, table: str, columns: tuple[str, ...], data: bytes) -> None:
    stream = io.BytesIO()
    stream.write(HEADER)
    stream.write(data)
    stream.write(TRAILER)
    stream.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)", stream,
                    size=COPY_BUFFER)


_TYPE_BYTES = [name.encode() for name in EVENT_TYPES]
_SEVERITY_BYTES = [name.encode() for name in SEVERITIES]


def encode_events(events: dict[str, np.ndarray]) -> bytes:
    """Binary COPY rows of telemetry_events (EVENT_COLUMNS order), in event_id order."""
    n = events["event_id"].size
    null = np.isnan(events["event_value"])
    key = (events["event_type"].astype(np.int64) * len(SEVERITIES) + events["severity"]) * 2 + null
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    bounds = np.flatnonzero(np.diff(sorted_key)) + 1
    blocks = []
    for positions in np.split(order, bounds):
        if positions.size == 0:
            continue
        k = int(key[positions[0]])
        type_code, severity, is_null = k // 2 // len(SEVERITIES), k // 2 % len(SEVERITIES), k % 2
        blocks.append((positions, encode_block(positions.size, [
            ("int8", events["event_id"][positions]),
            ("int4", events["prosthetic_id"][positions]),
            ("int4", events["user_id"][positions]),
            ("text", _TYPE_BYTES[type_code]),
            ("text", _SEVERITY_BYTES[severity]),
            ("timestamp", events["event_timestamp"][positions]),
            ("null", None) if is_null else ("float8", events["event_value"][positions]),
            ("timestamp", events["created_at"][positions]),
        ])))
    return scatter_blocks(blocks, n)


def encode_battery(battery: dict[str, np.ndarray]) -> bytes:
    """Binary COPY rows of battery_metrics (BATTERY_COLUMNS order)."""
    return encode_block(battery["metric_id"].size, [
        ("int8", battery["metric_id"]),
        ("int4", battery["prosthetic_id"]),
        ("timestamp", battery["metric_timestamp"]),
        ("numeric:2", battery["charge_level"]),
        ("numeric:3", battery["voltage"]),
        ("int4", battery["current_ma"]),
        ("numeric:1", battery["temperature_c"]),
        ("bool", battery["is_charging"]),
        ("timestamp", battery["created_at"]),
    ]).tobytes()


def drop_secondary_indexes(cur, tables: tuple[str, ...]) -> list[str]:
    """Drop the non-unique indexes of ``tables``; returns their definitions (to recreate them)."""
    cur.execute(
        """
        SELECT x.indexrelid::regclass::text, pg_get_indexdef(x.indexrelid)
        FROM pg_index x
        WHERE x.indrelid = ANY (%s::regclass[]) AND NOT x.indisunique AND NOT x.indisprimary
        ORDER BY pg_relation_size(x.indrelid) DESC, x.indexrelid
        """,
        (list(tables),),
    )
    found = cur.fetchall()
    for name, _definition in found:
        cur.execute(f"DROP INDEX IF EXISTS {name}")
    return [definition for _name, definition in found]


def create_indexes(settings: Settings, database: str, definitions: list[str], workers: int = 2) -> None:
    """Run ``CREATE INDEX`` statements on ``workers`` connections at once."""
    pending = list(definitions)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with pg_connection(settings, database) as conn:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SET maintenance_work_mem = '256MB'")
                    while True:
                        with lock:
                            if not pending or errors:
                                return
                            definition = pending.pop(0)
                        cur.execute(definition)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller
            errors.append(error)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(workers, len(pending))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
