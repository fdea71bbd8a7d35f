-- An empty month: REPLACE PARTITION refuses an empty source, so the month is dropped instead.
ALTER TABLE reports_db.{table:Identifier} DROP PARTITION {partition:UInt32}
