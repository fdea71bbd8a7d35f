-- The run's rows of the month in the mart: how many, and a key that appears more than once (0: none).
SELECT sum(n) AS rows, ifNull(anyIf(k, n > 1), 0) AS repeated_key
FROM (
    SELECT {key:Identifier} AS k, count() AS n
    FROM reports_db.{table:Identifier}
    WHERE report_date = {report_date:Date} AND load_id = {load_id:String}
    GROUP BY k
)
