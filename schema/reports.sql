-- reports_db in ClickHouse: the two monthly marts (the contract), their staging twins and the load
-- log: what the reports API reads. Safe to apply twice.

CREATE DATABASE IF NOT EXISTS reports_db;

CREATE TABLE IF NOT EXISTS reports_db.report_user_monthly_metrics (
    report_date                Date,
    user_id                    Int32,
    user_uuid                  String,
    total_payments             Decimal(12, 2),
    successful_payments        Decimal(12, 2),
    failed_payments_count      Int32,
    active_subscriptions_count Int32,
    subscription_cost_total    Decimal(12, 2),
    support_tickets_opened     Int32,
    support_tickets_resolved   Int32,
    created_at                 DateTime,
    last_updated               DateTime,
    load_id                    String DEFAULT ''
) ENGINE = MergeTree
PARTITION BY toYYYYMM(report_date)
ORDER BY (user_id, report_date);

CREATE TABLE IF NOT EXISTS reports_db.report_prosthetic_monthly_metrics (
    report_date               Date,
    prosthetic_id             Int32,
    user_id                   Int32,
    user_uuid                 String,
    prosthetic_uuid           String,
    device_type               String,
    power_on_count            Int32,
    power_off_count           Int32,
    total_active_hours        Float64,
    avg_discharge_rate_active Float64,
    avg_discharge_rate_idle   Float64,
    avg_charge_rate           Float64,
    charge_cycles             Int32,
    warning_count             Int32,
    error_count               Int32,
    critical_error_count      Int32,
    downtime_minutes          Int32,
    created_at                DateTime,
    last_updated              DateTime,
    load_id                   String DEFAULT ''
) ENGINE = MergeTree
PARTITION BY toYYYYMM(report_date)
ORDER BY (user_id, prosthetic_id, report_date);

-- Each mart row carries the load that wrote it (`load_id`, one per publish of a month); readers
-- take, per month, only the rows of the latest successful load in load_log (see tasks/load.py for the publish steps), so a
-- reader never sees a half-loaded month, one mart new and the other old, or rows of a run that
-- died before its load_log row. Tables made before load_id existed get it here (their rows keep '').
ALTER TABLE reports_db.report_user_monthly_metrics ADD COLUMN IF NOT EXISTS load_id String DEFAULT '';
ALTER TABLE reports_db.report_prosthetic_monthly_metrics ADD COLUMN IF NOT EXISTS load_id String DEFAULT '';

-- A month's new rows are written here first, then added to the mart beside the old ones, and
-- once logged swapped in whole (REPLACE PARTITION), which drops every other version's rows.
CREATE TABLE IF NOT EXISTS reports_db.report_user_monthly_metrics_staging
    AS reports_db.report_user_monthly_metrics;
CREATE TABLE IF NOT EXISTS reports_db.report_prosthetic_monthly_metrics_staging
    AS reports_db.report_prosthetic_monthly_metrics;
ALTER TABLE reports_db.report_user_monthly_metrics_staging ADD COLUMN IF NOT EXISTS load_id String DEFAULT '';
ALTER TABLE reports_db.report_prosthetic_monthly_metrics_staging ADD COLUMN IF NOT EXISTS load_id String DEFAULT '';

-- The per-day partials and the arrival watermark moved to bionicpro_work (schema/work.sql).
DROP TABLE IF EXISTS reports_db.prosthetic_daily_partials;
DROP TABLE IF EXISTS reports_db.partial_days;
DROP TABLE IF EXISTS reports_db.arrival_checks;

-- Every load attempt of a month: what backfills consult and what the API trusts.
CREATE TABLE IF NOT EXISTS reports_db.load_log (
    report_date Date,
    mart        LowCardinality(String),
    rows        UInt32,
    horizon     DateTime,
    status      LowCardinality(String),
    message     String,
    run_id      String,
    loaded_at   DateTime64(6),
    load_id     String DEFAULT ''  -- a successful load: the load_id of the mart rows it published
) ENGINE = MergeTree
ORDER BY (report_date, mart, loaded_at);
ALTER TABLE reports_db.load_log ADD COLUMN IF NOT EXISTS load_id String DEFAULT '';
