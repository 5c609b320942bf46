"""aiohttp: the POS API, status API and (later) the dashboard. Handlers are thin."""
