-- The days just computed count from now on: each gets a mark with the computation's time (the
-- partials of a day count only under its latest mark) and how many partial rows it has.
INSERT INTO bionicpro_work.partial_days (day, computed_at, rows)
SELECT d.day, {computed_at:DateTime64(6)}, toUInt32(p.n)
FROM (SELECT arrayJoin({days:Array(Date)}) AS day) AS d
LEFT JOIN (
    SELECT day, count() AS n
    FROM bionicpro_work.prosthetic_daily_partials
    WHERE computed_at = {computed_at:DateTime64(6)} AND has({days:Array(Date)}, day)
    GROUP BY day
) AS p ON p.day = d.day
