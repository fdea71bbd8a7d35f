-- bionicpro_work in ClickHouse: where a run stages its source rows, checks them and computes.
-- On the embedded default it lives on its own chDB path (.data/clickhouse-work), so that the
-- reports API, which reads reports_db on the other path, only waits for the short publish step.
-- Every stage_* and candidate table is partitioned by run_id: a run reads and drops only its
-- own partition, so concurrent or failed runs never mix. Safe to apply twice.

CREATE DATABASE IF NOT EXISTS bionicpro_work;

-- Telemetry of the days a run computes (all rows: every one is checked).
CREATE TABLE IF NOT EXISTS bionicpro_work.stage_events (
    run_id          String,
    event_id        Int64,
    prosthetic_id   Int32,
    user_id         Int32,
    event_type      String,
    severity        String,
    event_timestamp DateTime64(6, 'UTC'),
    event_value     Nullable(Float64),
    created_at      DateTime64(6, 'UTC')
) ENGINE = MergeTree
PARTITION BY run_id
ORDER BY tuple();

-- Events outside the staged days that the run needs. Before them, the state events that can still
-- reach into them: everything of the last 24 hours (a session lasts at most 24 h), and per
-- prosthesis the last power_on/critical_error of the 7 days before (an open downtime lasts at most
-- 7 days); already checked by earlier runs, created_at NULL. After them, the events that reached
-- the server during the staged days (created_at set) but are dated after them: no computation of
-- the run reads them (it stops at the window's end), the arrival rule of the checks does, since no
-- window holds such a row before its date comes.
CREATE TABLE IF NOT EXISTS bionicpro_work.stage_lookback (
    run_id          String,
    event_id        Int64,
    prosthetic_id   Int32,
    event_type      String,
    event_timestamp DateTime64(6, 'UTC'),
    event_value     Nullable(Float64),
    created_at      Nullable(DateTime64(6, 'UTC'))
) ENGINE = MergeTree
PARTITION BY run_id
ORDER BY tuple();
-- Work databases made before the column existed (the staging statement names its columns).
ALTER TABLE bionicpro_work.stage_lookback ADD COLUMN IF NOT EXISTS created_at Nullable(DateTime64(6, 'UTC'));

CREATE TABLE IF NOT EXISTS bionicpro_work.stage_battery (
    run_id           String,
    metric_id        Int64,
    prosthetic_id    Int32,
    metric_timestamp DateTime64(6, 'UTC'),
    charge_level     Float64,
    current_ma       Int64,
    is_charging      Bool,
    created_at       DateTime64(6, 'UTC'),
    voltage          Float64,
    temperature_c    Float64
) ENGINE = MergeTree
PARTITION BY run_id
ORDER BY tuple();
-- Work databases made before the sensor columns were checked (the staging statement names its columns).
ALTER TABLE bionicpro_work.stage_battery ADD COLUMN IF NOT EXISTS voltage Float64;
ALTER TABLE bionicpro_work.stage_battery ADD COLUMN IF NOT EXISTS temperature_c Float64;

-- The CRM: all users and prostheses; payments, subscriptions and tickets of the run's months.
CREATE TABLE IF NOT EXISTS bionicpro_work.stage_users (
    run_id     String,
    user_id    Int32,
    user_uuid  String,
    created_at DateTime64(6, 'UTC')
) ENGINE = MergeTree
PARTITION BY run_id
ORDER BY user_id;

CREATE TABLE IF NOT EXISTS bionicpro_work.stage_prosthetics (
    run_id          String,
    prosthetic_id   Int32,
    prosthetic_uuid String,
    user_id         Int32,
    device_type     String,
    purchase_date   Date32
) ENGINE = MergeTree
PARTITION BY run_id
ORDER BY prosthetic_id;

CREATE TABLE IF NOT EXISTS bionicpro_work.stage_payments (
    run_id          String,
    payment_id      Int64,
    user_id         Int32,
    subscription_id Int32,
    amount          Decimal(18, 2),
    status          String,
    payment_date    DateTime64(6, 'UTC')
) ENGINE = MergeTree
PARTITION BY run_id
ORDER BY payment_id;

CREATE TABLE IF NOT EXISTS bionicpro_work.stage_subscriptions (
    run_id          String,
    subscription_id Int32,
    user_id         Int32,
    monthly_cost    Decimal(18, 2),
    start_date      Date32,
    end_date        Nullable(Date32)
) ENGINE = MergeTree
PARTITION BY run_id
ORDER BY subscription_id;

CREATE TABLE IF NOT EXISTS bionicpro_work.stage_tickets (
    run_id      String,
    ticket_id   Int32,
    user_id     Int32,
    created_at  DateTime64(6, 'UTC'),
    resolved_at Nullable(DateTime64(6, 'UTC'))
) ENGINE = MergeTree
PARTITION BY run_id
ORDER BY ticket_id;

-- One row per (prosthetic, UTC day): that day's share of every prosthesis measure, exact
-- (microseconds, integer sums and counts), so a daily run computes one day and sums the month.
-- A day's latest computation (partial_days) is the one that counts.
CREATE TABLE IF NOT EXISTS bionicpro_work.prosthetic_daily_partials (
    day                  Date,
    prosthetic_id        Int32,
    power_on_count       Int64,
    power_off_count      Int64,
    charge_cycles        Int64,
    warning_count        Int64,
    error_count          Int64,
    critical_error_count Int64,
    active_us            Int64,
    downtime_us          Int64,
    discharge_active_sum Int64,
    discharge_active_n   Int64,
    discharge_idle_sum   Int64,
    discharge_idle_n     Int64,
    charge_sum           Int64,
    charge_n             Int64,
    computed_at          DateTime64(6)
) ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(day)
ORDER BY (prosthetic_id, day);

-- Which days have been computed, and when. A day reached by source rows that arrived after it was
-- computed gets a newer row with stale = 1, and is computed again by the next run of its month.
CREATE TABLE IF NOT EXISTS bionicpro_work.partial_days (
    day         Date,
    computed_at DateTime64(6),
    rows        UInt32,
    stale       UInt8 DEFAULT 0
) ENGINE = ReplacingMergeTree(computed_at)
ORDER BY day;

-- Each run looks at the rows that reached the sources since the previous run's check, once.
CREATE TABLE IF NOT EXISTS bionicpro_work.arrival_checks (
    checked_from DateTime64(6),
    run_id       String
) ENGINE = MergeTree
ORDER BY checked_from;

-- A month's mart rows as built, before they are checked and published to reports_db. Money is
-- kept wider than the mart's Decimal(12,2), so that a sum that does not fit is caught by a rule
-- naming the user and month instead of failing (or wrapping) on the way in. period_end is the
-- end of the month to date the row was built for (the bound of its hours and minutes).
CREATE TABLE IF NOT EXISTS bionicpro_work.user_mart_candidates (
    run_id                     String,
    report_date                Date,
    user_id                    Int32,
    user_uuid                  String,
    total_payments             Decimal(38, 2),
    successful_payments        Decimal(38, 2),
    failed_payments_count      Int64,
    active_subscriptions_count Int64,
    subscription_cost_total    Decimal(38, 2),
    support_tickets_opened     Int64,
    support_tickets_resolved   Int64,
    period_end                 DateTime64(6, 'UTC')
) ENGINE = MergeTree
PARTITION BY run_id
ORDER BY (report_date, user_id);

CREATE TABLE IF NOT EXISTS bionicpro_work.prosthetic_mart_candidates (
    run_id                    String,
    report_date               Date,
    prosthetic_id             Int32,
    user_id                   Int32,
    user_uuid                 String,
    prosthetic_uuid           String,
    device_type               String,
    power_on_count            Int64,
    power_off_count           Int64,
    total_active_hours        Float64,
    avg_discharge_rate_active Float64,
    avg_discharge_rate_idle   Float64,
    avg_charge_rate           Float64,
    charge_cycles             Int64,
    warning_count             Int64,
    error_count               Int64,
    critical_error_count      Int64,
    downtime_minutes          Int64,
    period_end                DateTime64(6, 'UTC')
) ENGINE = MergeTree
PARTITION BY run_id
ORDER BY (report_date, user_id, prosthetic_id);
