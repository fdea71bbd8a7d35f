-- The prosthesis mart of one month to date, built in ClickHouse from the stored day partials and
-- the run's staged CRM rows. Same figures as bionicpro.metrics.prosthetic.prosthetic_month applied
-- to the month's summed partials (see /work/shared/spec/marts.md and docs/etl.md).
--
-- Parameters: {run_id:String}; {month_start:Date}; {period_end:DateTime64(6)} = min(next month
-- start, horizon), naive UTC (a midnight).
--
-- One row per staged prosthesis bought before the period end, zeros without telemetry.
INSERT INTO bionicpro_work.prosthetic_mart_candidates
    (run_id, report_date, prosthetic_id, user_id, user_uuid, prosthetic_uuid, device_type,
     power_on_count, power_off_count, total_active_hours, avg_discharge_rate_active,
     avg_discharge_rate_idle, avg_charge_rate, charge_cycles, warning_count, error_count,
     critical_error_count, downtime_minutes, period_end)
WITH
    -- A DateTime64(6) parameter is parsed in the session time zone: print it back in that zone and
    -- read the text as UTC (naive UTC in, whatever the zone).
    toUnixTimestamp64Micro(toDateTime64(toString({period_end:DateTime64(6)}), 6, 'UTC')) AS pe_us,
    -- The days of the month to date: [month_start, period_end) (the day of a period end that is not a
    -- midnight does not count, as in tasks/sql/ch_month_partial_sums.sql).
    toDate(toDateTime64(toString({period_end:DateTime64(6)}), 6, 'UTC')) AS pe_day
SELECT {run_id:String} AS run_id,
       {month_start:Date} AS report_date,
       p.prosthetic_id AS prosthetic_id,
       p.user_id AS user_id,
       -- A prosthesis whose user is not staged is bad data: fail rather than load an empty uuid
       -- (the reference raises too).
       if(throwIf(ifNull(u.known, 0) = 0, 'a staged prosthesis references a user that is not staged') = 0,
          u.user_uuid, '') AS user_uuid,
       p.prosthetic_uuid AS prosthetic_uuid,
       p.device_type AS device_type,
       ifNull(m.power_on_count, 0) AS power_on_count,
       ifNull(m.power_off_count, 0) AS power_off_count,
       -- Hours: one division of the exact microseconds, as the reference (active_us / 3.6e9).
       toFloat64(ifNull(m.active_us, 0)) / 3.6e9 AS total_active_hours,
       -- Means: sum / n as Float64 (both exact integers below 2^53), 0 without samples.
       if(ifNull(m.discharge_active_n, 0) > 0,
          toFloat64(m.discharge_active_sum) / toFloat64(m.discharge_active_n), 0.) AS avg_discharge_rate_active,
       if(ifNull(m.discharge_idle_n, 0) > 0,
          toFloat64(m.discharge_idle_sum) / toFloat64(m.discharge_idle_n), 0.) AS avg_discharge_rate_idle,
       if(ifNull(m.charge_n, 0) > 0,
          toFloat64(m.charge_sum) / toFloat64(m.charge_n), 0.) AS avg_charge_rate,
       ifNull(m.charge_cycles, 0) AS charge_cycles,
       ifNull(m.warning_count, 0) AS warning_count,
       ifNull(m.error_count, 0) AS error_count,
       ifNull(m.critical_error_count, 0) AS critical_error_count,
       -- Whole minutes, floored (downtime_us is never negative).
       intDiv(ifNull(m.downtime_us, 0), 60000000) AS downtime_minutes,
       {period_end:DateTime64(6)} AS period_end
FROM (
    SELECT prosthetic_id, prosthetic_uuid, user_id, device_type
    FROM bionicpro_work.stage_prosthetics
    WHERE run_id = {run_id:String}
      AND toUnixTimestamp64Micro(toDateTime64(purchase_date, 6, 'UTC')) < pe_us
) AS p
LEFT JOIN (
    SELECT user_id, user_uuid, toUInt8(1) AS known
    FROM bionicpro_work.stage_users
    WHERE run_id = {run_id:String}
) AS u ON u.user_id = p.user_id
LEFT JOIN (
    -- The month's sums per prosthesis over each day's latest computation only: a recomputed day
    -- leaves older partial rows behind until ReplacingMergeTree merges them (and a merge is never
    -- guaranteed), so only rows whose computed_at is the day's latest mark in partial_days count.
    SELECT d.prosthetic_id AS prosthetic_id,
           sum(d.power_on_count) AS power_on_count,
           sum(d.power_off_count) AS power_off_count,
           sum(d.charge_cycles) AS charge_cycles,
           sum(d.warning_count) AS warning_count,
           sum(d.error_count) AS error_count,
           sum(d.critical_error_count) AS critical_error_count,
           sum(d.active_us) AS active_us,
           sum(d.downtime_us) AS downtime_us,
           sum(d.discharge_active_sum) AS discharge_active_sum,
           sum(d.discharge_active_n) AS discharge_active_n,
           sum(d.discharge_idle_sum) AS discharge_idle_sum,
           sum(d.discharge_idle_n) AS discharge_idle_n,
           sum(d.charge_sum) AS charge_sum,
           sum(d.charge_n) AS charge_n
    FROM bionicpro_work.prosthetic_daily_partials AS d
    INNER JOIN (
        SELECT day, max(computed_at) AS computed_at
        FROM bionicpro_work.partial_days
        WHERE day >= {month_start:Date} AND day < pe_day
        GROUP BY day
    ) AS latest ON d.day = latest.day AND d.computed_at = latest.computed_at
    WHERE d.day >= {month_start:Date} AND d.day < pe_day
    GROUP BY d.prosthetic_id
) AS m ON m.prosthetic_id = p.prosthetic_id
