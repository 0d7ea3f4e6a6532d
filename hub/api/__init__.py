"""The hub's HTTP API (FastAPI): auditor API, health; console and gateway to come."""
