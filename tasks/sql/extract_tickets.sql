-- Tickets opened or resolved in the month to date.
SELECT ticket_id, user_id, created_at, resolved_at
FROM crm_support_tickets
WHERE (created_at >= %(month_start)s AND created_at < %(period_end)s)
   OR (resolved_at >= %(month_start)s AND resolved_at < %(period_end)s)
ORDER BY ticket_id
