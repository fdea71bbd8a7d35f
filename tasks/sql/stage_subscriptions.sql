-- Subscriptions active at some moment of the run's months to date, decided from the dates (never is_active).
INSERT INTO bionicpro_work.stage_subscriptions
SELECT {run_id:String}, subscription_id, user_id, monthly_cost, start_date, end_date
FROM postgresql(bionicpro_crm, table = 'crm_subscriptions')
WHERE start_date < {span_end:DateTime64(6)} AND (end_date IS NULL OR end_date >= toDate({span_start:DateTime64(6)}))
