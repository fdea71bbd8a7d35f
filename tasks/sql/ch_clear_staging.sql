ALTER TABLE reports_db.$staging DROP PARTITION {partition:UInt32}
