-- telemetry_db: what devices send. Timestamps are UTC (timestamp without time zone).
-- No foreign key to crm_db (another database) and no CHECK on values devices report:
-- the raw tables accept what arrives, and the Great Expectations suites judge it.
-- created_at is when the row reached the server; event_timestamp / metric_timestamp when it happened.

CREATE TABLE IF NOT EXISTS telemetry_events (
    event_id        bigint PRIMARY KEY,
    prosthetic_id   integer          NOT NULL,
    user_id         integer          NOT NULL,
    event_type      text             NOT NULL,
    severity        text             NOT NULL,
    event_timestamp timestamp        NOT NULL,
    event_value     double precision,
    created_at      timestamp        NOT NULL
);
CREATE INDEX IF NOT EXISTS telemetry_events_time_idx ON telemetry_events (event_timestamp);
CREATE INDEX IF NOT EXISTS telemetry_events_prosthetic_time_idx ON telemetry_events (prosthetic_id, event_timestamp);
CREATE INDEX IF NOT EXISTS telemetry_events_created_idx ON telemetry_events (created_at);
-- Sessions and downtime need only these types, and need them from before the window (look-back).
CREATE INDEX IF NOT EXISTS telemetry_events_state_idx ON telemetry_events (event_timestamp, prosthetic_id)
    WHERE event_type IN ('power_on', 'power_off', 'critical_error');

CREATE TABLE IF NOT EXISTS battery_metrics (
    metric_id        bigint PRIMARY KEY,
    prosthetic_id    integer      NOT NULL,
    metric_timestamp timestamp    NOT NULL,
    charge_level     numeric(5,2) NOT NULL,
    voltage          numeric(5,3) NOT NULL,
    current_ma       integer      NOT NULL,
    temperature_c    numeric(4,1) NOT NULL,
    is_charging      boolean      NOT NULL,
    created_at       timestamp    NOT NULL
);
CREATE INDEX IF NOT EXISTS battery_metrics_time_idx ON battery_metrics (metric_timestamp);
CREATE INDEX IF NOT EXISTS battery_metrics_prosthetic_time_idx ON battery_metrics (prosthetic_id, metric_timestamp);
CREATE INDEX IF NOT EXISTS battery_metrics_created_idx ON battery_metrics (created_at);
