-- An empty month: REPLACE PARTITION refuses an empty source, so the month is dropped instead.
ALTER TABLE reports_db.$table DROP PARTITION {partition:UInt32}
