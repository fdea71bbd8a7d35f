-- What identifies each month's data, read when the chDB API takes its turn back: any write to a
-- month (insert, partition swap or drop, mutation, a load_log row) changes its stamps, so what
-- the API kept of that month is dropped, and the other months are kept. Stamps: the active parts
-- of the month's partitions of both marts, and the month's load_log rows.
SELECT partition_id AS month, sipHash64(arraySort(groupArray(concat(table, '/', name)))) AS stamp
FROM system.parts
WHERE database = 'reports_db' AND active
  AND table IN ('report_user_monthly_metrics', 'report_prosthetic_monthly_metrics')
GROUP BY partition_id
UNION ALL
SELECT toString(toYYYYMM(report_date)) AS month, sipHash64(count(), max(loaded_at)) AS stamp
FROM reports_db.load_log
GROUP BY report_date
