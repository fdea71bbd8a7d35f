-- Rows that reached the sources before this were already looked at by an earlier run.
SELECT max(checked_from) FROM bionicpro_work.arrival_checks
