-- Payments of the month to date.
SELECT payment_id, user_id, subscription_id, amount, status, payment_date
FROM crm_payments
WHERE payment_date >= %(month_start)s AND payment_date < %(period_end)s
ORDER BY payment_id
