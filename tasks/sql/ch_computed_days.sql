-- When each day of the month was last computed.
SELECT day, max(computed_at) AS computed_at
FROM reports_db.partial_days
WHERE day >= {month_start:Date} AND day < {period_end:Date}
GROUP BY day
