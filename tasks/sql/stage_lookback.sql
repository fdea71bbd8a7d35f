-- Events outside the window that the run needs (see schema/work.sql, stage_lookback).
-- Before it, the state events that can still reach into it: everything of the last 24 hours (a
-- session lasts at most 24 h), and per prosthesis the last power_on/critical_error of the 7 days
-- before that (an open downtime lasts at most 7 days; an older power_on's session ends before the
-- window). Only state types travel: PostgreSQL answers from its partial index.
-- After it, the events that reached the server during the window but are dated after it: no window
-- holds them before their date, so the run that saw them arrive is the one that can report them.
INSERT INTO bionicpro_work.stage_lookback
    (run_id, event_id, prosthetic_id, event_type, event_timestamp, event_value, created_at)
SELECT {run_id:String}, event_id, prosthetic_id, event_type, event_timestamp, event_value,
       CAST(NULL AS Nullable(DateTime64(6, 'UTC')))
FROM postgresql(bionicpro_telemetry, table = 'telemetry_events')
WHERE event_type IN ('power_on', 'power_off', 'critical_error')
  AND event_timestamp >= {window_start:DateTime64(6)} - INTERVAL 1 DAY
  AND event_timestamp < {window_start:DateTime64(6)}
UNION ALL
SELECT {run_id:String}, event_id, prosthetic_id, event_type, event_timestamp, event_value,
       CAST(NULL AS Nullable(DateTime64(6, 'UTC')))
FROM (
    SELECT event_id, prosthetic_id, event_type, event_timestamp, event_value
    FROM postgresql(bionicpro_telemetry, table = 'telemetry_events')
    WHERE event_type IN ('power_on', 'critical_error')
      AND event_timestamp >= {window_start:DateTime64(6)} - INTERVAL 8 DAY
      AND event_timestamp < {window_start:DateTime64(6)} - INTERVAL 1 DAY
    ORDER BY prosthetic_id, event_timestamp DESC, event_id DESC
    LIMIT 1 BY prosthetic_id
)
UNION ALL
-- Legitimate rows dated just after the window (a clock a few seconds ahead) travel too: few, and
-- the rule, not this query, decides how far ahead is too far.
SELECT {run_id:String}, event_id, prosthetic_id, event_type, event_timestamp, event_value, created_at
FROM postgresql(bionicpro_telemetry, table = 'telemetry_events')
WHERE created_at >= {window_start:DateTime64(6)} AND created_at < {window_end:DateTime64(6)}
  AND event_timestamp >= {window_end:DateTime64(6)}
