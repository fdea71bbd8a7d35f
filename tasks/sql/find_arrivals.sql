-- Rows that reached the server at or after %(since)s, as the span
-- of days their arrival can change: a power_on or critical_error can move sessions and downtime up
-- to 7 days on, a power_off up to 1 day, anything else only its own day.
WITH arrived AS (
    SELECT event_timestamp::date AS day,
           CASE WHEN event_type IN ('power_on', 'critical_error') THEN 7
                WHEN event_type = 'power_off' THEN 1
                ELSE 0 END AS reach,
           created_at
    FROM telemetry_events
    WHERE created_at >= %(since)s
    UNION ALL
    SELECT metric_timestamp::date, 0, created_at
    FROM battery_metrics
    WHERE created_at >= %(since)s
)
SELECT day, reach, max(created_at) AS last_arrival
FROM arrived
GROUP BY day, reach
