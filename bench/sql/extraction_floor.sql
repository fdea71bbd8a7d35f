-- The extraction floor: the month's telemetry and battery rows, every column the ETL stages,
-- written by the PostgreSQL server itself in binary to /dev/null (superuser only). Nothing
-- travels or is parsed, so this is what reading the month out of PostgreSQL costs at least.
COPY (SELECT event_id, prosthetic_id, user_id, event_type, severity, event_timestamp, event_value, created_at
      FROM telemetry_events
      WHERE event_timestamp >= %(month_start)s AND event_timestamp < %(month_end)s)
TO '/dev/null' WITH (FORMAT binary);

COPY (SELECT metric_id, prosthetic_id, metric_timestamp, charge_level, current_ma, is_charging, created_at
      FROM battery_metrics
      WHERE metric_timestamp >= %(month_start)s AND metric_timestamp < %(month_end)s)
TO '/dev/null' WITH (FORMAT binary);
