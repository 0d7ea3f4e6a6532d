"""Running the hub's services in one process (``edoc serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from hub.errors import HubError
from hub.router_service import RouterService
from hub.settings import Settings
from signing.trust import TrustStore
from signing.verifier import Verifier

log = logging.getLogger(__name__)

#: Services ``edoc serve --only`` accepts; more arrive with later releases.
SERVICES = ("router",)


def build_verifier(settings: Settings) -> Verifier:
    """The verifier configured from ``EDOC_TRUST_ANCHORS``, ``EDOC_CRLS`` and the time windows."""
    trust = TrustStore.from_paths(list(settings.trust_anchors), list(settings.crls))
    return Verifier(
        trust,
        clock_skew=timedelta(seconds=settings.clock_skew_seconds),
        freshness=timedelta(seconds=settings.freshness_seconds),
        max_package_bytes=settings.max_package_bytes,
    )


async def serve(
    settings: Settings, only: set[str] | None = None, stop: asyncio.Event | None = None
) -> None:
    """Start the chosen services and run until SIGINT/SIGTERM or ``stop`` is set."""
    chosen = only or set(SERVICES)
    unknown = chosen - set(SERVICES)
    if unknown:
        raise HubError(
            f"unknown service(s): {', '.join(sorted(unknown))}",
            hint=f"choose from {', '.join(SERVICES)}",
        )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    router = RouterService(settings, build_verifier(settings))
    await router.start()
    try:
        await router.run(stop)
    finally:
        await router.stop()
        log.info("router stopped after routing %d packages", router.routed)
