"""The only place that knows SQL. Callers use the repository functions and the async Store."""
