-- The run's new rows of the month beside the published ones: readers keep reading the published
-- load (load_id of the latest successful load_log row) until the run logs its own.
INSERT INTO reports_db.{table:Identifier}
SELECT * FROM reports_db.{staging:Identifier}
WHERE toYYYYMM(report_date) = {partition:UInt32}
