-- Tickets opened or resolved in the run's months to date.
INSERT INTO bionicpro_work.stage_tickets
SELECT {run_id:String}, ticket_id, user_id, created_at, resolved_at
FROM postgresql(bionicpro_crm, table = 'crm_support_tickets')
WHERE (created_at >= {span_start:DateTime64(6)} AND created_at < {span_end:DateTime64(6)})
   OR (resolved_at >= {span_start:DateTime64(6)} AND resolved_at < {span_end:DateTime64(6)})
