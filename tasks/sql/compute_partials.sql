-- Per-(prosthesis, UTC day) partials of the run's telemetry window, computed in ClickHouse.
-- Same figures as bionicpro.metrics.prosthetic.daily_partials(tally_events(events), lookback + the
-- window's state events, samples, window_start, window_end): see /work/shared/spec/marts.md and
-- docs/etl.md ("Readings of the contract").
--
-- Parameters: {run_id:String}; {window_start:DateTime64(6)}, {window_end:DateTime64(6)} (midnights,
-- naive UTC; window_end is also the horizon H); {days:Array(Date)} (the days whose partials are
-- inserted, all inside the window); {computed_at:DateTime64(6)}.
--
-- All time arithmetic is on Int64 microseconds since the epoch (toUnixTimestamp64Micro), so lengths
-- are exact integers like the reference's. Only the few state events (power_on, power_off,
-- critical_error) are ordered; counts are plain GROUP BYs. A CTE is expanded at every use, so each
-- is used once: the blocks feed one time line with the samples (coverage and battery together).
INSERT INTO bionicpro_work.prosthetic_daily_partials
    (day, prosthetic_id, power_on_count, power_off_count, charge_cycles, warning_count, error_count,
     critical_error_count, active_us, downtime_us, discharge_active_sum, discharge_active_n,
     discharge_idle_sum, discharge_idle_n, charge_sum, charge_n, computed_at)
WITH
    -- The bounds are naive UTC wall clocks: a DateTime64(6) parameter is parsed in the session time
    -- zone, so print it back in that zone and read the text as UTC (correct whatever the zone is).
    toUnixTimestamp64Micro(toDateTime64(toString({window_start:DateTime64(6)}), 6, 'UTC')) AS ws_us,
    toUnixTimestamp64Micro(toDateTime64(toString({window_end:DateTime64(6)}), 6, 'UTC')) AS we_us,
    toInt64(86400000000) AS day_us,
    toInt64(86400000000) AS session_cap_us,        -- a session lasts at most 24 hours
    toInt64(7 * 86400000000) AS downtime_cap_us,   -- a downtime lasts at most 7 days
    -- The requested days as day numbers (days since 1970-01-01), the unit of every day key below.
    arrayMap(d -> toInt64(d - toDate('1970-01-01')), {days:Array(Date)}) AS day_ns,
    -- The same as one flag per day of the window (index 1 = the window's first day), so that a row's
    -- day is tested with one array lookup: has(day_ns, ...) scans the array for every row (over the
    -- month's events that alone cost ~0.6 s). Every lookup is ANDed with us >= ws_us or is of a
    -- day inside the window: a negative index (which counts from the end) never decides a row.
    intDiv(ws_us, day_us) AS ws_dayn,
    arrayMap(i -> has(day_ns, ws_dayn + i), range(toUInt64(greatest(intDiv(we_us - 1, day_us) - ws_dayn + 1, 0)))) AS day_flags,

    -- State events that can shape an interval reaching the window: the window's own and the
    -- look-back's, from 7 days before the window (anything earlier starts an interval that ends
    -- before the window, and only ends intervals that start even earlier) up to the horizon (rows at
    -- or after H do not exist for this run). Resends are removed: equal (prosthetic_id, event_type,
    -- event_timestamp, event_value), NULLs equal, count once with the lowest event_id (the id only
    -- breaks ties in the order). The value is keyed as (is NULL, value + 0): NaN counts as NULL and
    -- -0.0 as 0.0, as pandas' duplicated() sees them.
    state AS (
        SELECT prosthetic_id, event_type, us, min(event_id) AS event_id
        FROM (
            SELECT prosthetic_id, event_type, event_id, toUnixTimestamp64Micro(event_timestamp) AS us, event_value
            FROM bionicpro_work.stage_events
            WHERE run_id = {run_id:String}
              AND event_type IN ('power_on', 'power_off', 'critical_error')
              AND toUnixTimestamp64Micro(event_timestamp) >= ws_us - downtime_cap_us
              AND toUnixTimestamp64Micro(event_timestamp) < we_us
            UNION ALL
            SELECT prosthetic_id, event_type, event_id, toUnixTimestamp64Micro(event_timestamp) AS us, event_value
            FROM bionicpro_work.stage_lookback
            WHERE run_id = {run_id:String}
              AND event_type IN ('power_on', 'power_off', 'critical_error')
              AND toUnixTimestamp64Micro(event_timestamp) >= ws_us - downtime_cap_us
              AND toUnixTimestamp64Micro(event_timestamp) < we_us
        )
        GROUP BY prosthetic_id, event_type, us,
                 isNaN(ifNull(event_value, nan)) AS value_null,
                 if(value_null, 0., ifNull(event_value, 0.) + 0.) AS value
    ),

    -- Each state event with what follows it in (event_timestamp, event_id) order. The walk goes
    -- backwards so that both look-aheads are frames anchored at the partition start, which ClickHouse
    -- accumulates row by row (a frame whose start moves would be re-aggregated for every row).
    ordered AS (
        SELECT prosthetic_id, event_type, us,
               -- the next state event of the prosthesis: it ends a session
               lagInFrame(toNullable(us), 1, NULL) OVER (
                   PARTITION BY prosthetic_id ORDER BY us DESC, event_id DESC
                   ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS next_us,
               -- the first later power_on (the earliest of all later ones): it ends a downtime
               min(if(event_type = 'power_on', us, NULL)) OVER (
                   PARTITION BY prosthetic_id ORDER BY us DESC, event_id DESC
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS next_on_us
        FROM state
    ),

    -- kind 0: sessions, power_on to the next state event or H, at most 24 h;
    -- kind 1: downtime, critical_error to the next power_on or H, at most 7 days.
    -- Clipped to the window; empty ones (a zero-length session: another state event at the same
    -- instant with a higher id) are dropped.
    intervals AS (
        SELECT prosthetic_id, kind, greatest(start_us, ws_us) AS s, least(end_us, we_us) AS e
        FROM (
            SELECT prosthetic_id,
                   toUInt8(event_type = 'critical_error') AS kind,
                   us AS start_us,
                   least(ifNull(if(kind = 1, next_on_us, next_us), we_us),
                         us + if(kind = 1, downtime_cap_us, session_cap_us),
                         we_us) AS end_us
            FROM ordered
            WHERE event_type IN ('power_on', 'critical_error')
        )
        WHERE e > s
    ),

    -- The union of each prosthesis's intervals of a kind as disjoint blocks (downtimes overlap when
    -- several faults precede one reboot; sessions never overlap, but go through the same union):
    -- sorted by start, an interval opens a new block unless it starts within what the earlier ones
    -- reach; a block runs from its first start to its furthest end.
    reach AS (
        SELECT prosthetic_id, kind, s, e,
               max(toNullable(e)) OVER (
                   PARTITION BY prosthetic_id, kind ORDER BY s, e
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reached
        FROM intervals
    ),
    blocks AS (
        SELECT prosthetic_id, kind, min(s) AS s, max(e) AS e
        FROM (
            SELECT prosthetic_id, kind, s, e,
                   sum(toUInt64(ifNull(s > reached, 1))) OVER (
                       PARTITION BY prosthetic_id, kind ORDER BY s, e
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS block
            FROM reach
        )
        GROUP BY prosthetic_id, kind, block
    ),

    -- Event counts. Only events some count depends on are de-duplicated (the bulk of activity
    -- events never enter a hash table): those of a counted type or severity, plus the rare other
    -- rows with the same resend key, whose lower event_id may decide the group's severity (the
    -- reference keeps the lowest id's row of a resend group, whatever its severity). Those other rows
    -- are found by (prosthetic_id, event_timestamp) alone, a fixed-size key that is cheap to probe
    -- for every event (the full resend key hashes strings and computes the value key for all of
    -- them): the extra rows it may let in form groups of their own with no counted type or severity,
    -- which add only zeros (a group is complete whenever it has a counted row: a counted type is in
    -- its key, and every row sharing its key also shares (prosthetic_id, event_timestamp)).
    counts AS (
        SELECT prosthetic_id, intDiv(us, day_us) AS dayn,
               toInt64(countIf(event_type = 'power_on')) AS power_on_count,
               toInt64(countIf(event_type = 'power_off')) AS power_off_count,
               toInt64(countIf(event_type = 'charging_completed')) AS charge_cycles,
               toInt64(countIf(severity_code = 1)) AS warning_count,
               toInt64(countIf(severity_code = 2)) AS error_count,
               toInt64(countIf(severity_code = 3)) AS critical_error_count
        FROM (
            SELECT prosthetic_id, event_type, us, argMin(severity_code, event_id) AS severity_code
            FROM (
                SELECT prosthetic_id, event_type, event_id,
                       -- the severity as its count (0: none), so the group keeps a byte, not a string
                       multiIf(severity = 'warning', 1, severity = 'error', 2, severity = 'critical', 3, 0) AS severity_code,
                       toUnixTimestamp64Micro(event_timestamp) AS us,
                       isNaN(ifNull(event_value, nan)) AS value_null,
                       if(value_null, 0., ifNull(event_value, 0.) + 0.) AS value
                FROM bionicpro_work.stage_events
                WHERE run_id = {run_id:String}
                  AND us >= ws_us AND us < we_us AND day_flags[intDiv(us, day_us) - ws_dayn + 1]
                  AND (event_type IN ('power_on', 'power_off', 'charging_completed')
                       OR severity IN ('warning', 'error', 'critical')
                       OR (prosthetic_id, event_timestamp) IN (
                           SELECT prosthetic_id, event_timestamp
                           FROM bionicpro_work.stage_events
                           WHERE run_id = {run_id:String}
                             AND toUnixTimestamp64Micro(event_timestamp) >= ws_us
                             AND toUnixTimestamp64Micro(event_timestamp) < we_us
                             AND day_flags[intDiv(toUnixTimestamp64Micro(event_timestamp), day_us) - ws_dayn + 1]
                             AND severity IN ('warning', 'error', 'critical')))
            )
            GROUP BY prosthetic_id, event_type, us, value_null, value
        )
        GROUP BY prosthetic_id, dayn
    ),

    -- Battery samples of the requested days, repeats removed (equal prosthetic_id and
    -- metric_timestamp: the lowest metric_id's row stays), then only those that count: charging, or
    -- discharging (not charging and current_ma < 0).
    samples AS (
        SELECT prosthetic_id, us,
               argMin(current_ma, metric_id) AS current_ma,
               argMin(is_charging, metric_id) AS is_charging
        FROM (
            SELECT prosthetic_id, metric_id, toUnixTimestamp64Micro(metric_timestamp) AS us, current_ma, is_charging
            FROM bionicpro_work.stage_battery
            WHERE run_id = {run_id:String}
              AND us >= ws_us AND us < we_us AND day_flags[intDiv(us, day_us) - ws_dayn + 1]
        )
        GROUP BY prosthetic_id, us
        HAVING is_charging OR current_ma < 0
    ),

    -- The session and downtime blocks and the samples in one time line per prosthesis, so that the
    -- blocks are computed once (a CTE is expanded at each use). A discharge sample is active when
    -- the last session block starting at or before it (half-open [s, e): a sample at a session's
    -- start is inside, at its end outside) has not ended yet: blocks are disjoint, so that block's
    -- end is the furthest end of the session blocks so far (0 before the first: idle). At equal
    -- times blocks sort before samples.
    timeline AS (
        SELECT prosthetic_id, kind, s, e, current_ma, is_charging,
               max(if(kind = 0, e, toInt64(0))) OVER (
                   PARTITION BY prosthetic_id ORDER BY s, kind
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session_reach
        FROM (
            SELECT prosthetic_id, kind, s, e, toInt64(0) AS current_ma, false AS is_charging FROM blocks
            UNION ALL
            SELECT prosthetic_id, toUInt8(2) AS kind, us AS s, us AS e, current_ma, is_charging FROM samples
        )
    ),

    -- Each block's exact microseconds in each requested day (cut at midnights), each sample's
    -- battery figures in its day.
    timeline_days AS (
        SELECT prosthetic_id, dayn,
               if(kind = 2, 0, least(e, (dayn + 1) * day_us) - greatest(s, dayn * day_us)) AS covered,
               kind = 0 AS session,
               kind = 1 AS downtime,
               kind = 2 AND NOT is_charging AND current_ma < 0 AS discharging,
               session_reach > s AS active,
               kind = 2 AND is_charging AS charging,
               current_ma
        FROM timeline
        ARRAY JOIN if(kind = 2, [intDiv(s, day_us)], range(intDiv(s, day_us), intDiv(e - 1, day_us) + 1)) AS dayn
        WHERE day_flags[dayn - ws_dayn + 1]
    )

-- Each part has one row per (prosthesis, day) it touches: stacking and summing is an outer join.
-- Only rows with some nonzero measure are stored.
SELECT toDate('1970-01-01') + dayn AS day,
       prosthetic_id,
       sum(p_on) AS power_on_count,
       sum(p_off) AS power_off_count,
       sum(p_charge_cycles) AS charge_cycles,
       sum(p_warning) AS warning_count,
       sum(p_error) AS error_count,
       sum(p_critical) AS critical_error_count,
       sum(p_active_us) AS active_us,
       sum(p_downtime_us) AS downtime_us,
       sum(p_da_sum) AS discharge_active_sum,
       sum(p_da_n) AS discharge_active_n,
       sum(p_di_sum) AS discharge_idle_sum,
       sum(p_di_n) AS discharge_idle_n,
       sum(p_c_sum) AS charge_sum,
       sum(p_c_n) AS charge_n,
       {computed_at:DateTime64(6)} AS computed_at
FROM (
    SELECT prosthetic_id, dayn,
           power_on_count AS p_on, power_off_count AS p_off, charge_cycles AS p_charge_cycles,
           warning_count AS p_warning, error_count AS p_error, critical_error_count AS p_critical,
           toInt64(0) AS p_active_us, toInt64(0) AS p_downtime_us,
           toInt64(0) AS p_da_sum, toInt64(0) AS p_da_n, toInt64(0) AS p_di_sum, toInt64(0) AS p_di_n,
           toInt64(0) AS p_c_sum, toInt64(0) AS p_c_n
    FROM counts
    UNION ALL
    SELECT prosthetic_id, dayn,
           toInt64(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0),
           if(session, covered, 0), if(downtime, covered, 0),
           if(discharging AND active, -current_ma, 0), toInt64(discharging AND active),
           if(discharging AND NOT active, -current_ma, 0), toInt64(discharging AND NOT active),
           if(charging, current_ma, 0), toInt64(charging)
    FROM timeline_days
)
GROUP BY prosthetic_id, dayn
HAVING power_on_count != 0 OR power_off_count != 0 OR charge_cycles != 0 OR warning_count != 0
    OR error_count != 0 OR critical_error_count != 0 OR active_us != 0 OR downtime_us != 0
    OR discharge_active_sum != 0 OR discharge_active_n != 0 OR discharge_idle_sum != 0
    OR discharge_idle_n != 0 OR charge_sum != 0 OR charge_n != 0
