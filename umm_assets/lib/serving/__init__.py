"""The read side the REST API and the dashboard share (never imports dagster, fastapi or dash): the cached
reader of the warehouse, the scenario solver cache, the history table, API keys and the audit log."""
