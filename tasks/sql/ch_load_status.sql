-- Per month: the latest attempt's status, and the horizon of the latest successful load of both marts.
SELECT report_date,
       argMax(status, loaded_at) AS last_status,
       maxIf(horizon, status = 'success') AS success_horizon
FROM reports_db.load_log
WHERE report_date >= {first_month:Date} AND report_date <= {last_month:Date}
GROUP BY report_date
