-- The month to date per prosthesis: the sum of each day's latest computation (older versions of a
-- recomputed day are ignored even before ReplacingMergeTree merges them away).
SELECT p.prosthetic_id AS prosthetic_id,
       sum(p.power_on_count) AS power_on_count,
       sum(p.power_off_count) AS power_off_count,
       sum(p.charge_cycles) AS charge_cycles,
       sum(p.warning_count) AS warning_count,
       sum(p.error_count) AS error_count,
       sum(p.critical_error_count) AS critical_error_count,
       sum(p.active_us) AS active_us,
       sum(p.downtime_us) AS downtime_us,
       sum(p.discharge_active_sum) AS discharge_active_sum,
       sum(p.discharge_active_n) AS discharge_active_n,
       sum(p.discharge_idle_sum) AS discharge_idle_sum,
       sum(p.discharge_idle_n) AS discharge_idle_n,
       sum(p.charge_sum) AS charge_sum,
       sum(p.charge_n) AS charge_n
FROM reports_db.prosthetic_daily_partials AS p
INNER JOIN (
    SELECT day, max(computed_at) AS computed_at
    FROM reports_db.partial_days
    WHERE day >= {month_start:Date} AND day < {period_end:Date}
    GROUP BY day
) AS latest ON p.day = latest.day AND p.computed_at = latest.computed_at
WHERE p.day >= {month_start:Date} AND p.day < {period_end:Date}
GROUP BY p.prosthetic_id
ORDER BY p.prosthetic_id
