-- created_at of the rows already in the month's partition, kept across reloads.
SELECT {key:Identifier}, created_at
FROM reports_db.{table:Identifier}
WHERE report_date = {report_date:Date}
