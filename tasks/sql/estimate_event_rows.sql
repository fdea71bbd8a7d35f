-- The planner's estimate of a range's events (from statistics; reads no rows): sizes the windows.
EXPLAIN (FORMAT JSON)
SELECT 1 FROM telemetry_events
WHERE event_timestamp >= %(window_start)s AND event_timestamp < %(window_end)s
