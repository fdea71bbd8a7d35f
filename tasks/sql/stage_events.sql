-- Every event of the days a run computes, pulled by the engine itself from PostgreSQL (the
-- bionicpro_telemetry named collection holds the connection, so no credential is in this text).
INSERT INTO bionicpro_work.stage_events
SELECT {run_id:String}, event_id, prosthetic_id, user_id, event_type, severity, event_timestamp, event_value, created_at
FROM postgresql(bionicpro_telemetry, table = 'telemetry_events')
WHERE event_timestamp >= {window_start:DateTime64(6)} AND event_timestamp < {window_end:DateTime64(6)}
-- Parts of at most 256 Ki rows: the insert then holds a few hundred MB, not a gigabyte, at 10,000 users.
SETTINGS min_insert_block_size_rows = 262144, min_insert_block_size_bytes = 67108864
