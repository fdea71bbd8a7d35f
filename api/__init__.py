"""The BionicPRO reports API (FastAPI): ``api.app.create_app``; ``bionicpro-api serve`` runs it."""
