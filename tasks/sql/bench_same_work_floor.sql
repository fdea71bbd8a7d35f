-- Context for the benchmark's floor: PostgreSQL alone doing the counting the marts need, with
-- device resends removed (one row per prosthesis, type, time and value, the lowest event_id kept)
-- and counts per (prosthesis, UTC day, event type, severity). No sessions, battery or validation.
-- Only the totals travel, so that the figure is PostgreSQL's work, not the client's.
SELECT count(*) AS groups, sum(n) AS events
FROM (
    SELECT prosthetic_id, event_timestamp::date AS day, event_type, severity, count(*) AS n
    FROM (
        SELECT DISTINCT ON (prosthetic_id, event_type, event_timestamp, event_value)
               prosthetic_id, event_type, severity, event_timestamp
        FROM telemetry_events
        WHERE event_timestamp >= %(month_start)s AND event_timestamp < %(month_end)s
        ORDER BY prosthetic_id, event_type, event_timestamp, event_value, event_id
    ) AS one_per_resend
    GROUP BY 1, 2, 3, 4
) AS counts
