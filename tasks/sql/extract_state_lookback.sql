-- State events before the window that can still reach into it:
-- everything in the last 24 hours (a session lasts at most 24 h), and per prosthesis the last
-- power_on / critical_error of the 7 days before (an open downtime lasts at most 7 days, and only
-- the latest critical_error without a power_on after it can reach the window).
SELECT event_id, prosthetic_id, event_type, event_timestamp, event_value
FROM telemetry_events
WHERE event_type IN ('power_on', 'power_off', 'critical_error')
  AND event_timestamp >= %(session_from)s AND event_timestamp < %(window_start)s
UNION
SELECT * FROM (
    SELECT DISTINCT ON (prosthetic_id) event_id, prosthetic_id, event_type, event_timestamp, event_value
    FROM telemetry_events
    WHERE event_type IN ('power_on', 'critical_error')
      AND event_timestamp >= %(downtime_from)s AND event_timestamp < %(window_start)s
    ORDER BY prosthetic_id, event_timestamp DESC, event_id DESC
) AS last_state
