-- Months with a day whose latest mark says its inputs changed after it was computed.
SELECT DISTINCT toStartOfMonth(day) AS month
FROM (
    SELECT day, argMax(stale, computed_at) AS is_stale
    FROM bionicpro_work.partial_days
    GROUP BY day
)
WHERE is_stale = 1
ORDER BY month
