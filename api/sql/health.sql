-- Is reports_db readable, and which month is the newest whose both marts loaded successfully,
-- with the horizon of its latest successful load (epoch seconds; both 0 when nothing is loaded).
SELECT toUnixTimestamp(toDateTime(max(month), 'UTC')) AS newest_month, argMax(horizon, month) AS horizon
FROM (
    SELECT report_date AS month,
           toUnixTimestamp(least(argMaxIf(horizon, loaded_at, mart = 'user'),
                                 argMaxIf(horizon, loaded_at, mart = 'prosthetic'))) AS horizon
    FROM reports_db.load_log
    WHERE status = 'success'
    GROUP BY report_date
    HAVING countIf(mart = 'user') > 0 AND countIf(mart = 'prosthetic') > 0
)
