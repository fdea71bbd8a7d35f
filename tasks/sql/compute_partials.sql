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
-- critical_error) are ordered; counts and battery figures are plain GROUP BYs.
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

    -- Exact microseconds of each requested day covered by the blocks (a block is cut at midnights).
    coverage AS (
        SELECT prosthetic_id, dayn,
               toInt64(sumIf(covered, kind = 0)) AS active_us,
               toInt64(sumIf(covered, kind = 1)) AS downtime_us
        FROM (
            SELECT prosthetic_id, kind, dayn,
                   least(e, (dayn + 1) * day_us) - greatest(s, dayn * day_us) AS covered
            FROM blocks
            ARRAY JOIN range(intDiv(s, day_us), intDiv(e - 1, day_us) + 1) AS dayn
        )
        WHERE has(day_ns, dayn)
        GROUP BY prosthetic_id, dayn
    ),

    -- Event counts. Only events some count depends on are de-duplicated (the bulk of activity
    -- events never enter a hash table): those of a counted type or severity, plus the rare other
    -- rows with the same resend key, whose lower event_id may decide the group's severity (the
    -- reference keeps the lowest id's row of a resend group, whatever its severity).
    counts AS (
        SELECT prosthetic_id, intDiv(us, day_us) AS dayn,
               toInt64(countIf(event_type = 'power_on')) AS power_on_count,
               toInt64(countIf(event_type = 'power_off')) AS power_off_count,
               toInt64(countIf(event_type = 'charging_completed')) AS charge_cycles,
               toInt64(countIf(severity = 'warning')) AS warning_count,
               toInt64(countIf(severity = 'error')) AS error_count,
               toInt64(countIf(severity = 'critical')) AS critical_error_count
        FROM (
            SELECT prosthetic_id, event_type, us, argMin(severity, event_id) AS severity
            FROM (
                SELECT prosthetic_id, event_type, severity, event_id,
                       toUnixTimestamp64Micro(event_timestamp) AS us,
                       isNaN(ifNull(event_value, nan)) AS value_null,
                       if(value_null, 0., ifNull(event_value, 0.) + 0.) AS value
                FROM bionicpro_work.stage_events
                WHERE run_id = {run_id:String}
                  AND us >= ws_us AND us < we_us AND has(day_ns, intDiv(us, day_us))
                  AND (event_type IN ('power_on', 'power_off', 'charging_completed')
                       OR severity IN ('warning', 'error', 'critical')
                       OR (prosthetic_id, event_type, us, value_null, value) IN (
                           SELECT prosthetic_id, event_type, toUnixTimestamp64Micro(event_timestamp) AS us,
                                  isNaN(ifNull(event_value, nan)) AS value_null,
                                  if(value_null, 0., ifNull(event_value, 0.) + 0.) AS value
                           FROM bionicpro_work.stage_events
                           WHERE run_id = {run_id:String}
                             AND us >= ws_us AND us < we_us AND has(day_ns, intDiv(us, day_us))
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
              AND us >= ws_us AND us < we_us AND has(day_ns, intDiv(us, day_us))
        )
        GROUP BY prosthetic_id, us
        HAVING is_charging OR current_ma < 0
    ),

    -- A discharge sample is active when the last session block starting at or before it
    -- (half-open [s, e): a sample at a session's start is inside, at its end outside) has not
    -- ended yet; the ASOF join keeps only the (few) session blocks in memory.
    battery AS (
        SELECT prosthetic_id, dayn,
               toInt64(sumIf(-current_ma, discharging AND active)) AS discharge_active_sum,
               toInt64(countIf(discharging AND active)) AS discharge_active_n,
               toInt64(sumIf(-current_ma, discharging AND NOT active)) AS discharge_idle_sum,
               toInt64(countIf(discharging AND NOT active)) AS discharge_idle_n,
               toInt64(sumIf(current_ma, is_charging)) AS charge_sum,
               toInt64(countIf(is_charging)) AS charge_n
        FROM (
            SELECT sm.prosthetic_id AS prosthetic_id,
                   intDiv(sm.us, day_us) AS dayn,
                   sm.current_ma AS current_ma,
                   sm.is_charging AS is_charging,
                   NOT sm.is_charging AND sm.current_ma < 0 AS discharging,
                   -- unmatched: e is 0 (or NULL with join_use_nulls): idle
                   ifNull(ss.e, 0) > sm.us AS active
            FROM samples AS sm
            ASOF LEFT JOIN (SELECT prosthetic_id, s, e FROM blocks WHERE kind = 0) AS ss
                ON sm.prosthetic_id = ss.prosthetic_id AND sm.us >= ss.s
        )
        GROUP BY prosthetic_id, dayn
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
           active_us, downtime_us,
           toInt64(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0)
    FROM coverage
    UNION ALL
    SELECT prosthetic_id, dayn,
           toInt64(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0),
           toInt64(0), toInt64(0),
           discharge_active_sum, discharge_active_n, discharge_idle_sum, discharge_idle_n, charge_sum, charge_n
    FROM battery
)
GROUP BY prosthetic_id, dayn
HAVING power_on_count != 0 OR power_off_count != 0 OR charge_cycles != 0 OR warning_count != 0
    OR error_count != 0 OR critical_error_count != 0 OR active_us != 0 OR downtime_us != 0
    OR discharge_active_sum != 0 OR discharge_active_n != 0 OR discharge_idle_sum != 0
    OR discharge_idle_n != 0 OR charge_sum != 0 OR charge_n != 0
