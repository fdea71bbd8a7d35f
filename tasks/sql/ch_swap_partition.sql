-- Atomic: readers see the old month or the new one, never a mix.
ALTER TABLE reports_db.$table REPLACE PARTITION {partition:UInt32} FROM reports_db.$staging
