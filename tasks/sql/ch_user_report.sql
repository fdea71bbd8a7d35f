-- One user's month: the user mart row and the user's devices, newest loaded month by default.
-- Only published loads are read (the load_id of each month's latest successful load_log row).
SELECT u.report_date, u.user_uuid, u.total_payments, u.successful_payments, u.failed_payments_count,
       u.active_subscriptions_count, u.subscription_cost_total, u.support_tickets_opened,
       u.support_tickets_resolved, u.last_updated
FROM reports_db.report_user_monthly_metrics AS u
WHERE u.user_id = {user_id:Int32}
  AND (u.report_date, u.load_id) IN (SELECT report_date, argMax(load_id, loaded_at) FROM reports_db.load_log
                                     WHERE status = 'success' GROUP BY report_date)
  AND u.report_date = if({month:Nullable(Date)} IS NULL,
                         (SELECT max(report_date) FROM reports_db.report_user_monthly_metrics WHERE user_id = {user_id:Int32}),
                         {month:Nullable(Date)})
