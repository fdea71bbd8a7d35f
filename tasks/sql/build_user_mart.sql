-- The user mart of one month to date, built in ClickHouse from the run's staged CRM rows.
-- Same figures as bionicpro.metrics.user.user_month (see /work/shared/spec/marts.md and docs/etl.md).
--
-- Parameters: {run_id:String}; {month_start:Date}; {period_end:DateTime64(6)} = min(next month
-- start, horizon), naive UTC. The staged tables may hold a wider range (a backfill stages several
-- months at once): every period rule is applied here.
--
-- Each source is aggregated per user first and then joined to the user list, so nothing fans out
-- (a user with 3 payments and 2 subscriptions is neither 6 payments nor 6 subscriptions). Money is
-- summed as Decimal: sum(Decimal(18, 2)) is Decimal(38, 2), exact (0.10 + 0.20 = 0.30).
INSERT INTO bionicpro_work.user_mart_candidates
    (run_id, report_date, user_id, user_uuid, total_payments, successful_payments,
     failed_payments_count, active_subscriptions_count, subscription_cost_total,
     support_tickets_opened, support_tickets_resolved, period_end)
WITH
    -- Bounds as UTC microseconds. A DateTime64(6) parameter is parsed in the session time zone:
    -- print it back in that zone and read the text as UTC (naive UTC in, whatever the zone).
    toUnixTimestamp64Micro(toDateTime64({month_start:Date}, 6, 'UTC')) AS ms_us,
    toUnixTimestamp64Micro(toDateTime64(toString({period_end:DateTime64(6)}), 6, 'UTC')) AS pe_us
SELECT {run_id:String} AS run_id,
       {month_start:Date} AS report_date,
       u.user_id AS user_id,
       u.user_uuid AS user_uuid,
       -- No match in a LEFT JOIN gives the type's default (or NULL with join_use_nulls): 0 either way.
       ifNull(p.total, 0) AS total_payments,
       ifNull(p.success, 0) AS successful_payments,
       ifNull(p.failed, 0) AS failed_payments_count,
       ifNull(s.subs, 0) AS active_subscriptions_count,
       ifNull(s.cost, 0) AS subscription_cost_total,
       ifNull(t.opened, 0) AS support_tickets_opened,
       ifNull(t.resolved, 0) AS support_tickets_resolved,
       {period_end:DateTime64(6)} AS period_end
FROM (
    -- Users that exist by the end of the period.
    SELECT user_id, user_uuid
    FROM bionicpro_work.stage_users
    WHERE run_id = {run_id:String} AND toUnixTimestamp64Micro(created_at) < pe_us
) AS u
LEFT JOIN (
    -- Payments with payment_date in [month_start, period_end), any status.
    SELECT user_id,
           sum(amount) AS total,
           sumIf(amount, status = 'success') AS success,
           toInt64(countIf(status = 'failed')) AS failed
    FROM bionicpro_work.stage_payments
    WHERE run_id = {run_id:String}
      AND toUnixTimestamp64Micro(payment_date) >= ms_us AND toUnixTimestamp64Micro(payment_date) < pe_us
    GROUP BY user_id
) AS p ON p.user_id = u.user_id
LEFT JOIN (
    -- Subscriptions active at some moment of the month to date, decided from the dates only
    -- (never from is_active): started before the period end, not ended before the month.
    -- Dates are compared as their UTC midnights in microseconds.
    SELECT user_id,
           toInt64(count()) AS subs,
           sum(monthly_cost) AS cost
    FROM bionicpro_work.stage_subscriptions
    WHERE run_id = {run_id:String}
      AND toUnixTimestamp64Micro(toDateTime64(start_date, 6, 'UTC')) < pe_us
      AND (end_date IS NULL OR toUnixTimestamp64Micro(toDateTime64(assumeNotNull(end_date), 6, 'UTC')) >= ms_us)
    GROUP BY user_id
) AS s ON s.user_id = u.user_id
LEFT JOIN (
    -- Tickets opened, and tickets resolved, in the period (a NULL resolved_at is never inside).
    SELECT user_id,
           toInt64(countIf(toUnixTimestamp64Micro(created_at) >= ms_us
                           AND toUnixTimestamp64Micro(created_at) < pe_us)) AS opened,
           toInt64(countIf(resolved_at IS NOT NULL
                           AND toUnixTimestamp64Micro(assumeNotNull(resolved_at)) >= ms_us
                           AND toUnixTimestamp64Micro(assumeNotNull(resolved_at)) < pe_us)) AS resolved
    FROM bionicpro_work.stage_tickets
    WHERE run_id = {run_id:String}
    GROUP BY user_id
) AS t ON t.user_id = u.user_id
