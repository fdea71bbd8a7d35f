-- Every event of the window: validated row by row, counted, and cut into sessions.
SELECT event_id, prosthetic_id, user_id, event_type, severity, event_timestamp, event_value, created_at
FROM telemetry_events
WHERE event_timestamp >= %(window_start)s AND event_timestamp < %(window_end)s
