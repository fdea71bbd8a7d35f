-- The user_uuid of a user_id, from the newest month that has the user (for `bionicpro-api mint-token`).
SELECT user_uuid
FROM reports_db.report_user_monthly_metrics
WHERE user_id = {user_id:Int32}
  AND (report_date, load_id) IN (SELECT report_date, argMax(load_id, loaded_at) FROM reports_db.load_log
                                 WHERE status = 'success' GROUP BY report_date)
ORDER BY report_date DESC
LIMIT 1
