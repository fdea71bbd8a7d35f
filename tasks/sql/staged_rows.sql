-- Rows of one run per table, from the parts' metadata (reads no data).
SELECT table, sum(rows)
FROM system.parts
WHERE database = 'bionicpro_work' AND active AND partition = {run_id:String} AND has({tables:Array(String)}, table)
GROUP BY table
