SELECT min(created_at)::date FROM crm_users
