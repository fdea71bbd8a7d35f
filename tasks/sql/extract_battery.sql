-- Battery samples of the window.
SELECT metric_id, prosthetic_id, metric_timestamp, charge_level, current_ma, is_charging, created_at
FROM battery_metrics
WHERE metric_timestamp >= %(window_start)s AND metric_timestamp < %(window_end)s
