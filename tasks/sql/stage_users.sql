-- Every CRM user: the user mart keeps those created before the period end; telemetry is checked against all.
INSERT INTO bionicpro_work.stage_users
SELECT {run_id:String}, user_id, toString(user_uuid), created_at
FROM postgresql(bionicpro_crm, table = 'crm_users')
