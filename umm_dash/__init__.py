"""The Monday dashboard: a Dash multi-page app over the materialized assets (``umm dash``)."""
