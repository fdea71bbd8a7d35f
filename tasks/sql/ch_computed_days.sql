-- The latest computation of each day in [first_day, last_day]: when, and whether it went stale since.
SELECT day, max(computed_at) AS latest, argMax(stale, computed_at) AS is_stale
FROM bionicpro_work.partial_days
WHERE day >= {first_day:Date} AND day <= {last_day:Date}
GROUP BY day
