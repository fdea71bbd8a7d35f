-- created_at of the month's published rows (the latest successful load's), kept across reloads.
SELECT {key:Identifier}, created_at
FROM reports_db.{table:Identifier}
WHERE report_date = {report_date:Date}
  AND load_id = (SELECT argMax(load_id, loaded_at) FROM reports_db.load_log
                 WHERE report_date = {report_date:Date} AND status = 'success')
