-- Battery samples of the days a run computes.
INSERT INTO bionicpro_work.stage_battery
SELECT {run_id:String}, metric_id, prosthetic_id, metric_timestamp, charge_level, current_ma, is_charging, created_at
FROM postgresql(bionicpro_telemetry, table = 'battery_metrics')
WHERE metric_timestamp >= {window_start:DateTime64(6)} AND metric_timestamp < {window_end:DateTime64(6)}
