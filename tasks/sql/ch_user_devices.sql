SELECT prosthetic_id, device_type, power_on_count, total_active_hours, avg_discharge_rate_active,
       avg_discharge_rate_idle, avg_charge_rate, charge_cycles, warning_count, error_count,
       critical_error_count, downtime_minutes
FROM reports_db.report_prosthetic_monthly_metrics
WHERE user_id = {user_id:Int32} AND report_date = {month:Date}
  AND load_id = (SELECT argMax(load_id, loaded_at) FROM reports_db.load_log
                 WHERE report_date = {month:Date} AND status = 'success')
ORDER BY prosthetic_id
