"""Processes, ports and readiness of the local Kafka broker (for ``hub.localkafka.broker``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import os
import socket
import subprocess
from collections.abc import Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from hub.errors import BrokerUnavailableError, KafkaLauncherError


async def probe(
    bootstrap: str, request_timeout: float, client: Mapping[str, Any] | None = None
) -> None:
    """One readiness check: a TCP connect, then a metadata request listing a broker."""
    addresses = [a.strip() for a in bootstrap.split(",") if a.strip()]
    refused: OSError | None = None
    for address in addresses:
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"{address!r} is not host:port")
        try:  # cheap first: aiokafka logs every failed bootstrap at ERROR level
            _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except OSError as exc:
            refused = exc
            continue
        writer.close()
        break
    else:
        raise refused or ValueError("no address given")
    admin = AIOKafkaAdminClient(
        **{**(client or {}), "bootstrap_servers": bootstrap},
        request_timeout_ms=max(1000, int(request_timeout * 1000)),
    )
    try:
        await admin.start()
        if not (await admin.describe_cluster()).get("brokers"):
            raise KafkaError("metadata lists no broker yet")
    finally:
        await admin.close()


async def wait_for_broker(
    bootstrap: str,
    timeout: float,  # noqa: ASYNC109 -- see the docstring
    client: Mapping[str, Any] | None = None,
) -> None:
    """Return once ``bootstrap`` answers a metadata request.

    Raises BrokerUnavailableError naming the address after ``timeout`` seconds
    (a parameter rather than ``asyncio.timeout`` so the error says why).
    ``client`` adds security options (``hub.kafka.client.client_config`` form).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        try:
            await asyncio.wait_for(
                probe(bootstrap, 5.0, client), timeout=max(0.2, min(remaining, 5.0))
            )
            return
        except ValueError as exc:
            raise BrokerUnavailableError(bootstrap, str(exc)) from None
        except (TimeoutError, OSError, KafkaError) as exc:
            detail = str(exc) or type(exc).__name__
            if isinstance(exc, ConnectionRefusedError):
                detail = "connection refused"
            elif isinstance(exc, TimeoutError):
                detail = "no answer in time"
        if loop.time() + 0.25 >= deadline:
            raise BrokerUnavailableError(bootstrap, f"{detail}; waited {timeout:g}s")
        await asyncio.sleep(0.25)


def run_async(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` in a fresh loop on a worker thread: works even inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


def tail(path: Path, lines: int = 20) -> str:
    """Last ``lines`` lines of a text file, or '' when there is none."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run_tool(
    cmd: list[str], cwd: Path, timeout: float, failure: str, hint: str | None = None
) -> None:
    """Run a tool to completion; on failure raise with the last lines of its output."""
    try:
        out = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise KafkaLauncherError(f"{failure}: no result in {timeout:g}s", hint=hint) from None
    if out.returncode != 0:
        last = "\n".join((out.stdout + out.stderr).strip().splitlines()[-15:])
        raise KafkaLauncherError(f"{failure} (exit {out.returncode}):\n{last}", hint=hint)


def port_free(port: int) -> bool:
    """True when 127.0.0.1:port can be bound (sockets in TIME_WAIT do not count, as for Java)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def is_broker(pid: int, properties: str) -> bool:
    """True when ``pid`` is alive, not a zombie and (where /proc tells) runs ``properties``."""
    proc = Path("/proc") / str(pid)
    if not proc.parent.is_dir():  # no /proc (macOS): liveness is all we can check
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and properties in cmdline


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive advisory lock: concurrent `start` or jar fetches wait for each other."""
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
