-- Months with a successful load of both marts, and the horizon of the latest one.
SELECT report_date, argMax(horizon, loaded_at) AS horizon
FROM reports_db.load_log
WHERE status = 'success'
GROUP BY report_date
HAVING uniqExact(mart) = 2
