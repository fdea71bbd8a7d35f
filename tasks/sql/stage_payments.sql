-- Payments of the run's months to date.
INSERT INTO bionicpro_work.stage_payments
SELECT {run_id:String}, payment_id, user_id, subscription_id, amount, status, payment_date
FROM postgresql(bionicpro_crm, table = 'crm_payments')
WHERE payment_date >= {span_start:DateTime64(6)} AND payment_date < {span_end:DateTime64(6)}
