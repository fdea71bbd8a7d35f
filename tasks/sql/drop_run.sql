-- A run's staged rows and candidates go when it ends; {table} comes from a fixed list.
ALTER TABLE bionicpro_work.{table:Identifier} DROP PARTITION {run_id:String}
