"""The uvicorn server of ``edoc serve``: it leaves SIGINT/SIGTERM to ``serve``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``serve`` owns SIGINT/SIGTERM for all services."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals alone."""
        yield
