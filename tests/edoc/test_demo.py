"""``edoc demo`` — the README's first command — end to end, as a user runs it.

It must come up on a fresh state directory (its own broker, SQLite, PKI), run the
scripted scenario, keep the simulated agencies flowing through the hub, answer on
the API, and on Ctrl-C stop everything it started.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests._ci import unavailable
from tests._kafka import free_port

READY = "Press Ctrl-C to stop everything."


def _lines(proc: subprocess.Popen[str], out: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        out.put(line)


def _read_until(out: queue.Queue[str], marker: str, timeout: float, seen: list[str]) -> None:
    deadline = time.monotonic() + timeout
    while not any(marker in line for line in seen):
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no {marker!r} within {timeout:g}s; output:\n{''.join(seen[-40:])}")
        try:
            seen.append(out.get(timeout=min(left, 1.0)))
        except queue.Empty:
            continue


def _entries(client: httpx.Client, **params: str) -> int:
    page = client.get("/api/v1/audit/entries", params={"limit": "500", **params})
    page.raise_for_status()
    return len(page.json()["entries"])


@pytest.mark.kafka(own_broker=True)
@pytest.mark.timeout(420)
def test_demo_comes_up_routes_the_simulated_agencies_and_stops_cleanly(tmp_path: Path) -> None:
    if shutil.which("java") is None or shutil.which("mvn") is None:
        unavailable("the demo's broker", "java and mvn are needed to run Kafka from Maven jars")
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDOC_")}
    env |= {
        "EDOC_VAR_DIR": str(tmp_path / "var"),
        "EDOC_LOCAL_KAFKA_PORT": str(free_port()),
        "EDOC_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
        "EDOC_API_PORT": str(api_port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "edoc", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc, out), daemon=True).start()
    seen: list[str] = []
    try:
        _read_until(out, READY, 300, seen)
        text = "".join(seen)
        assert "hub verdict ok" in text, text
        assert "got the hub's signed receipt: status 01" in text, text
        assert "was refused, not delivered: bad_signature" in text, text
        assert f"http://127.0.0.1:{api_port}/console" in text, text
        token = re.search(r"auditor token: (edoc_\S+)", text)
        assert token is not None, text
        with httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}",
            headers={"Authorization": f"Bearer {token.group(1)}"},
            timeout=10,
        ) as client:
            assert client.get("/readyz").json()["status"] == "ok"
            first = _entries(client)
            deadline = time.monotonic() + 90
            # The simulated agencies keep sending (some deliberately bad packages):
            # the signature log grows, refusals included.
            while _entries(client) < first + 5 or not _entries(client, verdict="rejected"):
                assert time.monotonic() < deadline, "the simulated traffic did not reach the log"
                time.sleep(1)
            assert client.get("/console", follow_redirects=True).status_code == 200
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            pytest.fail("edoc demo did not stop within 90 s of Ctrl-C")
    while not out.empty():
        seen.append(out.get())
    assert proc.returncode == 0, "".join(seen[-40:])
    assert "no broker left running" in "".join(seen), "".join(seen[-40:])
