-- A run's candidate rows of one mart and month; {table} comes from a fixed list.
SELECT * EXCEPT (run_id, period_end)
FROM bionicpro_work.{table:Identifier}
WHERE run_id = {run_id:String} AND report_date = {report_date:Date}
