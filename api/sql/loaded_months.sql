-- Months whose both marts loaded successfully, newest first (what the chDB API reads ahead at start).
SELECT report_date
FROM reports_db.load_log
WHERE status = 'success'
GROUP BY report_date
HAVING countIf(mart = 'user') > 0 AND countIf(mart = 'prosthetic') > 0
ORDER BY report_date DESC
