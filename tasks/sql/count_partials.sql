SELECT count() FROM bionicpro_work.prosthetic_daily_partials WHERE computed_at = {computed_at:DateTime64(6)}
