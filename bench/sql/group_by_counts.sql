-- Context for the extraction floor: PostgreSQL alone counting the month per prosthesis (one GROUP BY).
SELECT prosthetic_id,
       count(*) FILTER (WHERE event_type = 'power_on') AS power_on_count,
       count(*) FILTER (WHERE event_type = 'power_off') AS power_off_count,
       count(*) FILTER (WHERE event_type = 'charging_completed') AS charge_cycles,
       count(*) FILTER (WHERE severity = 'warning') AS warning_count,
       count(*) FILTER (WHERE severity = 'error') AS error_count,
       count(*) FILTER (WHERE severity = 'critical') AS critical_error_count
FROM telemetry_events
WHERE event_timestamp >= %(month_start)s AND event_timestamp < %(month_end)s
GROUP BY prosthetic_id
