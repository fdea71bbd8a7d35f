-- Every CRM prosthesis: telemetry is checked against all of them (purchase dates, owners).
INSERT INTO bionicpro_work.stage_prosthetics
SELECT {run_id:String}, prosthetic_id, toString(prosthetic_uuid), user_id, device_type, purchase_date
FROM postgresql(bionicpro_crm, table = 'crm_prosthetics')
