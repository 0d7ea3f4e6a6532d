"""The hub's database: the signature log, checkpoints, API tokens (SQLAlchemy 2 Core, async)."""
