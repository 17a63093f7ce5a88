"""The GraphMem server: the Memory API over HTTP (FastAPI + uvicorn), API keys mapped to
principals, an MCP server, and a read-only web console. Needs the `serve` extra; nothing
outside this package imports it, except the settings (`settings.py`, no FastAPI import)."""
