-- Atomic: readers see the old month or the new one, never a mix. (The FROM table of REPLACE
-- PARTITION takes no query parameter, so each mart has its own file.)
ALTER TABLE reports_db.report_user_monthly_metrics
REPLACE PARTITION {partition:UInt32} FROM reports_db.report_user_monthly_metrics_staging
