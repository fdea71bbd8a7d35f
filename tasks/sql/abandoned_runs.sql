-- Partitions of runs that ended without dropping theirs (killed): untouched for a day.
SELECT table, partition
FROM system.parts
WHERE database = 'bionicpro_work' AND active
  AND (table LIKE 'stage\_%' OR table LIKE '%\_candidates')
GROUP BY table, partition
HAVING max(modification_time) < now() - INTERVAL 1 DAY
