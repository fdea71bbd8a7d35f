"""What readers see of every loaded month, printed as one JSON line (run as its own process, so
the test never holds the trial's chDB path while a run needs it).

    python tests/faults/snapshot.py

Per month: the published load (latest successful load_log load_id and its logged row counts), the
latest attempt's status and message, both
marts as readers see them (the published load's rows, without the per-load stamps), and the raw
partitions (every row, any load) with their keys that appear more than once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

MARTS = {"user": ("report_user_monthly_metrics", "user_id"),
         "prosthetic": ("report_prosthetic_monthly_metrics", "prosthetic_id")}
STAMPS = ("created_at", "last_updated", "load_id")


def main() -> None:
    from bionicpro.db import clickhouse_client
    from bionicpro.settings import get_settings

    months: dict[str, dict] = {}
    with clickhouse_client(get_settings()) as client:
        for month, load_id, logged in client.query(
                "SELECT toString(report_date), load_id, toString(arraySort(groupArray((mart, rows)))) "
                "FROM reports_db.load_log WHERE status = 'success' AND (report_date, loaded_at) IN "
                "(SELECT report_date, max(loaded_at) FROM reports_db.load_log WHERE status = 'success' "
                "GROUP BY report_date) GROUP BY report_date, load_id").result_rows:
            months[month] = {"load_id": load_id, "logged": logged}
        for month, status, message in client.query(
                "SELECT toString(report_date), argMax(status, loaded_at), argMax(message, loaded_at) "
                "FROM reports_db.load_log GROUP BY report_date").result_rows:
            months.setdefault(month, {"load_id": None, "logged": None}).update(last_status=status, last_message=message)
        for name, (table, key) in MARTS.items():
            result = client.query(f"SELECT * FROM reports_db.{table} ORDER BY report_date, {key}, load_id")
            for row in (dict(zip(result.column_names, values)) for values in result.result_rows):
                month = months.setdefault(str(row["report_date"]), {"load_id": None, "logged": None})
                raw = month.setdefault(f"{name}_raw", [])
                raw.append([row[key], row["load_id"]])
                if row["load_id"] == month["load_id"]:
                    month.setdefault(name, []).append({c: str(v) for c, v in row.items() if c not in STAMPS})
    print(json.dumps(months, sort_keys=True))


if __name__ == "__main__":
    main()
