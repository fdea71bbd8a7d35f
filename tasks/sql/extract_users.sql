-- Every CRM user: the user mart keeps those created before the period end; telemetry is checked against all.
SELECT user_id, user_uuid::text AS user_uuid, created_at
FROM crm_users
ORDER BY user_id
