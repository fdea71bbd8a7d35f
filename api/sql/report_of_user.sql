-- One user's month in one round trip, by user_id or by user_uuid (the token's subject): $match is
-- one of the fixed conditions of USER_MATCH in api/reports.py, the values are bound. Every read is
-- pruned to the month's partition (a lookup across all months would cost a part per month).
-- api/reports.py reads the result; keep the tuple fields in the order of USER_FIELDS and
-- DEVICE_FIELDS there.
--   load     (both marts have a successful load of the month in load_log,
--             the horizon of the latest successful load, the older of the two marts', epoch s)
--   users    the user mart row of the month (0 or 1)
--   devices  the user's prosthesis mart rows of the month
-- Mart rows are those of the month's published load (load_id of its latest successful load_log
-- row): rows of a run still publishing, or killed while publishing, are never read.
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
     WHERE report_date = {month:Date} AND $match
       AND load_id = (SELECT argMax(load_id, loaded_at) FROM reports_db.load_log
                       WHERE report_date = {month:Date} AND status = 'success')) AS users,
    (SELECT groupArray(tuple(prosthetic_id, prosthetic_uuid, device_type, total_active_hours, power_on_count,
                             avg_discharge_rate_active, avg_discharge_rate_idle, avg_charge_rate, charge_cycles,
                             warning_count, error_count, critical_error_count, downtime_minutes))
     FROM reports_db.report_prosthetic_monthly_metrics
     WHERE report_date = {month:Date} AND $match
       AND load_id = (SELECT argMax(load_id, loaded_at) FROM reports_db.load_log
                       WHERE report_date = {month:Date} AND status = 'success')) AS devices
