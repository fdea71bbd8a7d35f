-- Every CRM prosthesis: telemetry is checked against all of them (purchase dates, owners).
SELECT prosthetic_id, prosthetic_uuid::text AS prosthetic_uuid, user_id, device_type, purchase_date
FROM crm_prosthetics
ORDER BY prosthetic_id
