ALTER TABLE reports_db.{staging:Identifier} DROP PARTITION {partition:UInt32}
