-- Battery samples of the days a run computes.
INSERT INTO bionicpro_work.stage_battery
    (run_id, metric_id, prosthetic_id, metric_timestamp, charge_level, current_ma, is_charging, created_at,
     voltage, temperature_c)
SELECT {run_id:String}, metric_id, prosthetic_id, metric_timestamp, charge_level, current_ma, is_charging, created_at,
       voltage, temperature_c
FROM postgresql(bionicpro_telemetry, table = 'battery_metrics')
WHERE metric_timestamp >= {window_start:DateTime64(6)} AND metric_timestamp < {window_end:DateTime64(6)}
-- Parts of at most 256 Ki rows: the insert then holds a few hundred MB, not a gigabyte, at 10,000 users.
SETTINGS min_insert_block_size_rows = 262144, min_insert_block_size_bytes = 67108864
