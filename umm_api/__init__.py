"""Unified-M's REST API: FastAPI over the materialized assets (see ``umm_api.app.create_app``)."""
