-- State events before the window that can still reach into it: everything of the last 24 hours
-- (a session lasts at most 24 h), and per prosthesis the last power_on/critical_error of the
-- 7 days before that (an open downtime lasts at most 7 days; an older power_on's session ends
-- before the window). Only state types travel: PostgreSQL answers from its partial index.
INSERT INTO bionicpro_work.stage_lookback
SELECT {run_id:String}, event_id, prosthetic_id, event_type, event_timestamp, event_value
FROM postgresql(bionicpro_telemetry, table = 'telemetry_events')
WHERE event_type IN ('power_on', 'power_off', 'critical_error')
  AND event_timestamp >= {window_start:DateTime64(6)} - INTERVAL 1 DAY
  AND event_timestamp < {window_start:DateTime64(6)}
UNION ALL
SELECT {run_id:String}, event_id, prosthetic_id, event_type, event_timestamp, event_value
FROM (
    SELECT event_id, prosthetic_id, event_type, event_timestamp, event_value
    FROM postgresql(bionicpro_telemetry, table = 'telemetry_events')
    WHERE event_type IN ('power_on', 'critical_error')
      AND event_timestamp >= {window_start:DateTime64(6)} - INTERVAL 8 DAY
      AND event_timestamp < {window_start:DateTime64(6)} - INTERVAL 1 DAY
    ORDER BY prosthetic_id, event_timestamp DESC, event_id DESC
    LIMIT 1 BY prosthetic_id
)
