-- A whole month in one round trip, for the chDB API to keep during its turn on the path (a read
-- costs about the same for one user or all of them there). Same columns as report_of_user.sql,
-- with every user of the month, and devices led by user_id (MONTH_DEVICE_FIELDS in api/reports.py).
-- Only the month's published load is read, as there.
SELECT
    (SELECT tuple(countIf(mart = 'user') > 0 AND countIf(mart = 'prosthetic') > 0,
                  toUnixTimestamp(least(argMaxIf(horizon, loaded_at, mart = 'user'),
                                        argMaxIf(horizon, loaded_at, mart = 'prosthetic'))))
     FROM reports_db.load_log
     WHERE report_date = {month:Date} AND status = 'success') AS load,
    (SELECT groupArray(tuple(user_id, user_uuid, total_payments, successful_payments, failed_payments_count,
                             active_subscriptions_count, subscription_cost_total, support_tickets_opened,
                             support_tickets_resolved))
     FROM reports_db.report_user_monthly_metrics
     WHERE report_date = {month:Date}
       AND load_id = (SELECT argMax(load_id, loaded_at) FROM reports_db.load_log
                       WHERE report_date = {month:Date} AND status = 'success')) AS users,
    (SELECT groupArray(tuple(user_id, prosthetic_id, prosthetic_uuid, device_type, total_active_hours,
                             power_on_count, avg_discharge_rate_active, avg_discharge_rate_idle, avg_charge_rate,
                             charge_cycles, warning_count, error_count, critical_error_count, downtime_minutes))
     FROM reports_db.report_prosthetic_monthly_metrics
     WHERE report_date = {month:Date}
       AND load_id = (SELECT argMax(load_id, loaded_at) FROM reports_db.load_log
                       WHERE report_date = {month:Date} AND status = 'success')) AS devices
