-- created_at of the rows already in the month's partition, kept across reloads.
SELECT $keys, created_at
FROM reports_db.$table
WHERE report_date = {report_date:Date}
