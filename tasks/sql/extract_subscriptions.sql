-- Subscriptions active at some moment of the month to date, decided from the dates (never is_active).
SELECT subscription_id, user_id, monthly_cost, start_date, end_date
FROM crm_subscriptions
WHERE start_date < %(period_end)s AND (end_date IS NULL OR end_date >= %(month_start)s)
ORDER BY subscription_id
