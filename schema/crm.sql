-- crm_db: the CRM. Timestamps are UTC (timestamp without time zone). Safe to apply twice.

CREATE TABLE IF NOT EXISTS crm_users (
    user_id     integer PRIMARY KEY,
    user_uuid   uuid        NOT NULL UNIQUE,
    email       text        NOT NULL UNIQUE,
    full_name   text        NOT NULL,
    phone       text,
    country     text        NOT NULL,
    created_at  timestamp   NOT NULL,
    updated_at  timestamp   NOT NULL,
    CHECK (updated_at >= created_at)
);

CREATE TABLE IF NOT EXISTS crm_prosthetics (
    prosthetic_id   integer PRIMARY KEY,
    prosthetic_uuid uuid        NOT NULL UNIQUE,
    user_id         integer     NOT NULL REFERENCES crm_users (user_id),
    device_type     text        NOT NULL CHECK (device_type IN ('arm', 'hand', 'leg', 'foot')),
    model           text        NOT NULL,
    serial_number   text        NOT NULL UNIQUE,
    firmware_version text       NOT NULL,
    purchase_date   date        NOT NULL,
    warranty_until  date        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('active', 'in_repair', 'retired')),
    created_at      timestamp   NOT NULL,
    CHECK (warranty_until >= purchase_date)
);
CREATE INDEX IF NOT EXISTS crm_prosthetics_user_idx ON crm_prosthetics (user_id);

CREATE TABLE IF NOT EXISTS crm_subscriptions (
    subscription_id integer PRIMARY KEY,
    user_id         integer       NOT NULL REFERENCES crm_users (user_id),
    prosthetic_id   integer       REFERENCES crm_prosthetics (prosthetic_id),
    plan            text          NOT NULL CHECK (plan IN ('basic', 'standard', 'premium')),
    monthly_cost    numeric(10,2) NOT NULL CHECK (monthly_cost >= 0),
    start_date      date          NOT NULL,
    end_date        date,
    is_active       boolean       NOT NULL,
    created_at      timestamp     NOT NULL,
    CHECK (end_date IS NULL OR end_date >= start_date)
);
CREATE INDEX IF NOT EXISTS crm_subscriptions_user_idx ON crm_subscriptions (user_id);
CREATE INDEX IF NOT EXISTS crm_subscriptions_dates_idx ON crm_subscriptions (start_date, end_date);

CREATE TABLE IF NOT EXISTS crm_payments (
    payment_id      bigint PRIMARY KEY,
    user_id         integer       NOT NULL REFERENCES crm_users (user_id),
    subscription_id integer       NOT NULL REFERENCES crm_subscriptions (subscription_id),
    amount          numeric(12,2) NOT NULL CHECK (amount >= 0),
    currency        char(3)       NOT NULL DEFAULT 'RUB',
    payment_date    timestamp     NOT NULL,
    status          text          NOT NULL CHECK (status IN ('success', 'failed', 'pending')),
    payment_method  text          NOT NULL CHECK (payment_method IN ('card', 'bank_transfer', 'insurance')),
    created_at      timestamp     NOT NULL
);
CREATE INDEX IF NOT EXISTS crm_payments_date_idx ON crm_payments (payment_date);
CREATE INDEX IF NOT EXISTS crm_payments_user_date_idx ON crm_payments (user_id, payment_date);
CREATE INDEX IF NOT EXISTS crm_payments_created_idx ON crm_payments (created_at);

CREATE TABLE IF NOT EXISTS crm_support_tickets (
    ticket_id     integer PRIMARY KEY,
    user_id       integer   NOT NULL REFERENCES crm_users (user_id),
    prosthetic_id integer   REFERENCES crm_prosthetics (prosthetic_id),
    category      text      NOT NULL CHECK (category IN ('technical', 'billing', 'fitting', 'other')),
    priority      text      NOT NULL CHECK (priority IN ('low', 'medium', 'high')),
    status        text      NOT NULL CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    subject       text      NOT NULL,
    created_at    timestamp NOT NULL,
    resolved_at   timestamp,
    CHECK (resolved_at IS NULL OR resolved_at >= created_at),
    CHECK ((status IN ('resolved', 'closed')) = (resolved_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS crm_tickets_created_idx ON crm_support_tickets (created_at);
CREATE INDEX IF NOT EXISTS crm_tickets_resolved_idx ON crm_support_tickets (resolved_at);
