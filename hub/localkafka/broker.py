"""A Kafka broker for development and tests, run from Maven Central jars (no Docker).

State lives under one root directory (default ``EDOC_VAR_DIR/kafka``)::

    lib/               broker jars, fetched once per pom.xml (sha256 marker)
    lib-<version>/     the same for another Kafka version (--kafka-version)
    server.properties  rendered from deploy/kafka/server.properties.template
    cluster.id         KRaft cluster id, made once
    data/              log.dirs
    logs/              server.log (INFO) and console.log (stdout/stderr, WARN)
    kafka.pid          process id; the broker leads its own process group
    admin.password     secure mode only: the super-user's password (hub/localkafka/secure.py)
    admin-client.properties  secure mode only: the super-user's login for Kafka's own tools
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.errors import BrokerUnavailableError, KafkaLauncherError
from hub.kafka.security.provision import write_private_file
from hub.localkafka import secure as secure_mode
from hub.localkafka.process import (
    is_broker,
    locked,
    port_free,
    run_async,
    run_tool,
    tail,
    wait_for_broker,
)
from hub.settings import get_settings

_JAVA_HINT = "install a JDK 17+ (e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME"
_MARKER = ".edoc-pom.sha256"
_JVM_OPTS = ("-Xms256m", "-Xmx1g", "-Djava.awt.headless=true")
#: What ``--kafka-version`` accepts: a release number as on Maven Central.
_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
_POM_VERSION = re.compile(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>")
#: Kafka's own tool that reads and changes feature levels (``kafka-features.sh``).
FEATURE_COMMAND = "org.apache.kafka.tools.FeatureCommand"


def pom_kafka_version(deploy_dir: Path) -> str | None:
    """The ``kafka.version`` property of ``deploy_dir/pom.xml`` (None if unreadable)."""
    try:
        found = _POM_VERSION.search((deploy_dir / "pom.xml").read_text())
    except OSError:
        return None
    return found.group(1) if found else None


def broker_message_max_bytes(max_package_bytes: int) -> int:
    """Record-batch limit matching a package limit; producers and consumers should use it too.

    Headroom: a third more for a package re-encoded in base64 (e.g. wrapped in a
    rejection record) plus 1 MiB for headers, reasons and batch overhead.
    """
    return max_package_bytes + max_package_bytes // 3 + 1024 * 1024


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding, not starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
        if not cid.startswith("-"):  # StorageTool would read it as an option
            return cid


@dataclass(frozen=True)
class LocalKafkaStatus:
    """What ``edoc local kafka status`` reports."""

    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    log_file: Path


class LocalKafka:
    """Runs one single-node KRaft broker (broker and controller in one JVM) for dev and tests.

    With ``secure``: SASL_PLAINTEXT, SCRAM-SHA-512 and ACLs (hub/localkafka/secure.py).
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        deploy_dir: Path | None = None,
        max_package_bytes: int | None = None,
        lib_dir: Path | None = None,
        secure: bool | None = None,
        kafka_version: str | None = None,
    ) -> None:
        """Unset arguments come from settings; ``lib_dir`` lets test brokers share fetched jars.

        ``kafka_version`` runs another Kafka release than the pom's ``kafka.version``
        (upgrade rehearsals): its jars go to ``<lib_dir>-<version>``.
        """
        s = get_settings()
        self.root = (root or s.var_dir / "kafka").resolve()
        self.port = port if port is not None else s.local_kafka_port
        self.controller_port = (
            controller_port if controller_port is not None else s.local_kafka_controller_port
        )
        self.deploy_dir = (deploy_dir or s.kafka_deploy_dir).resolve()
        self.max_package_bytes = max_package_bytes or s.max_package_bytes
        version = kafka_version or s.local_kafka_version
        if version is not None and not _VERSION.match(version):
            raise KafkaLauncherError(
                f"{version!r} is not a Kafka version", hint="give a release such as 4.0.0"
            )
        pom_version = pom_kafka_version(self.deploy_dir)
        #: The version asked for when it is not the pom's (None: the pom's).
        self.kafka_version = version if version != pom_version else None
        lib = (lib_dir or self.root / "lib").resolve()
        if self.kafka_version is not None:
            lib = lib.with_name(f"{lib.name}-{self.kafka_version}")
        self.lib_dir = lib
        self.data_dir = self.root / "data"
        self.log_dir = self.root / "logs"
        self.log_file = self.log_dir / "server.log"
        self.console_log = self.log_dir / "console.log"
        self.properties = self.root / "server.properties"
        self.pid_file = self.root / "kafka.pid"
        self.secure = s.local_kafka_secure if secure is None else secure
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def version(self) -> str | None:
        """The Kafka version this launcher runs (None when the pom names none)."""
        return self.kafka_version or pom_kafka_version(self.deploy_dir)

    @property
    def bootstrap(self) -> str:
        """Client bootstrap address of this broker."""
        return f"127.0.0.1:{self.port}"

    @property
    def admin(self) -> secure_mode.BrokerAdmin | None:
        """The super-user of a secure broker (password made on first use); None otherwise."""
        if not self.secure:
            return None
        password = secure_mode.admin_password(self.root)
        return secure_mode.BrokerAdmin(self.bootstrap, password=password)

    def client_config(self) -> dict[str, Any]:
        """aiokafka keyword arguments that reach this broker (as the super-user when secure)."""
        admin = self.admin
        return admin.client_config() if admin else {"bootstrap_servers": self.bootstrap}

    def ensure_jars(self) -> Path:
        """Fetch the broker jars with Maven once per pom.xml (and version); return the lib dir."""
        pom = self.deploy_dir / "pom.xml"
        override = [f"-Dkafka.version={self.kafka_version}"] if self.kafka_version else []
        try:
            digest = hashlib.sha256(pom.read_bytes() + " ".join(override).encode()).hexdigest()
        except OSError as exc:
            raise KafkaLauncherError(f"cannot read {pom}: {exc.strerror}") from None
        marker = self.lib_dir / _MARKER
        if marker.is_file() and marker.read_text().strip() == digest:
            return self.lib_dir
        self.lib_dir.parent.mkdir(parents=True, exist_ok=True)
        with locked(self.lib_dir.parent / ".lib.lock"):
            if marker.is_file() and marker.read_text().strip() == digest:
                return self.lib_dir  # another process fetched them while we waited
            mvn = shutil.which("mvn")
            if mvn is None:
                raise KafkaLauncherError(
                    "Maven (`mvn`) is not on PATH; it fetches the Kafka jars from Maven Central",
                    hint="install Maven (e.g. `apt-get install maven`)",
                )
            # Fetch into a fresh directory and swap it in, so a failed or
            # interrupted fetch never leaves a half-filled lib/ behind.
            staging = self.lib_dir.with_name(self.lib_dir.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            goal = ["-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime"]
            run_tool(
                [mvn, *goal, *override, "-f", str(pom), f"-DoutputDirectory={staging}"],
                self.deploy_dir,
                900,
                "Maven could not fetch the Kafka jars",
                hint="check network access to Maven Central, deploy/kafka/pom.xml and the "
                "Kafka version",
            )
            if not any(staging.glob("kafka_*.jar")):
                raise KafkaLauncherError(f"Maven left no kafka_*.jar in {staging}")
            (staging / _MARKER).write_text(digest + "\n")
            shutil.rmtree(self.lib_dir, ignore_errors=True)
            staging.rename(self.lib_dir)
        return self.lib_dir

    def start(self, timeout: float = 90.0) -> bool:
        """Start the broker and wait until it serves metadata; False when it was already running."""
        self.root.mkdir(parents=True, exist_ok=True)
        with locked(self.root / ".lock"):
            pid = self._live_pid()
            if pid is not None:
                running = self._running_bootstrap()
                if self._running_secure() != self.secure:
                    mode = "without" if self.secure else "with"
                    raise KafkaLauncherError(
                        f"the local Kafka broker already runs {mode} SASL", hint="stop it first"
                    )
                if running != self.bootstrap:
                    raise KafkaLauncherError(
                        f"the local Kafka broker already runs at {running}, not {self.bootstrap}",
                        hint="use it, or `edoc local kafka stop` first",
                    )
                self.wait_ready(timeout)  # running (or still starting up): just wait
                return False
            self.pid_file.unlink(missing_ok=True)
            for port in (self.port, self.controller_port):
                if not port_free(port):
                    raise KafkaLauncherError(
                        f"port {port} on 127.0.0.1 is already in use by another process",
                        hint="stop it, or pick other ports (--port/--controller-port, "
                        "EDOC_LOCAL_KAFKA_PORT/EDOC_LOCAL_KAFKA_CONTROLLER_PORT)",
                    )
            java = self._java()
            lib = self.ensure_jars()
            secure_mode.check_mode(self.root, self.data_dir, self.secure)
            self._render_properties()
            self._format_storage(java, lib)
            admin = self.admin
            if admin is not None:
                secure_mode.mark_secure(self.root)
                secure_mode.write_admin_env(self.root, admin)
            self.log_dir.mkdir(parents=True, exist_ok=True)
            logging = f"-Dlog4j2.configurationFile={self.deploy_dir / 'log4j2.yaml'}"
            cmd = [java, *_JVM_OPTS, logging, f"-Dkafka.logs.dir={self.log_dir}"]
            cmd += ["-cp", str(lib / "*"), "kafka.Kafka", str(self.properties)]
            with self.console_log.open("wb") as console:
                # Own session: Ctrl-C in the terminal that ran `start` must not
                # kill the broker, and stop() can signal the whole group.
                self._proc = subprocess.Popen(
                    cmd,
                    cwd=self.root,
                    stdin=subprocess.DEVNULL,
                    stdout=console,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.pid_file.write_text(f"{self._proc.pid}\n")
            try:
                self.wait_ready(timeout)
            except KafkaLauncherError:
                self.stop(timeout=10.0)
                raise
            return True

    def wait_ready(self, timeout: float) -> None:
        """Poll with metadata requests until the broker answers; fail fast if its process dies."""
        deadline = time.monotonic() + timeout
        while True:
            if self._live_pid() is None:
                raise KafkaLauncherError(
                    f"the Kafka broker exited during startup; last log lines:\n{self._logtail()}",
                    hint=f"full logs in {self.log_dir}",
                )
            remaining = deadline - time.monotonic()
            try:
                run_async(
                    wait_for_broker(
                        self.bootstrap, max(0.5, min(remaining, 2.0)), self.client_config()
                    )
                )
                return
            except BrokerUnavailableError as exc:
                if time.monotonic() >= deadline:
                    raise KafkaLauncherError(
                        f"the Kafka broker did not become ready in {timeout:g}s "
                        f"({exc.message}); last log lines:\n{self._logtail()}",
                        hint=f"full logs in {self.log_dir}",
                    ) from None

    def features(self, args: Sequence[str], timeout: float = 120.0) -> str:
        """Run Kafka's ``kafka-features`` tool against this broker; return what it printed.

        ``args`` are the tool's own (``describe``, ``upgrade --metadata 4.1``, …); the
        bootstrap address and, on a secure broker, the super-user's login are added.
        """
        if self._live_pid() is None:
            raise KafkaLauncherError(
                "the local Kafka broker is not running", hint="`edoc local kafka start` first"
            )
        java = self._java()
        lib = self.ensure_jars()
        if not any(lib.glob("kafka-tools-*.jar")):
            raise KafkaLauncherError(
                f"no kafka-tools jar in {lib}", hint="deploy/kafka/pom.xml must list kafka-tools"
            )
        logging = f"-Dlog4j2.configurationFile={self.deploy_dir / 'log4j2.yaml'}"
        cmd = [java, logging, f"-Dkafka.logs.dir={self.log_dir / 'tools'}"]
        bootstrap = self._running_bootstrap()  # the running broker's, whatever the settings
        cmd += ["-cp", str(lib / "*"), FEATURE_COMMAND, "--bootstrap-server", bootstrap]
        if self._running_secure():
            password = secure_mode.admin_password(self.root)
            admin = secure_mode.BrokerAdmin(bootstrap, password=password)
            config = secure_mode.write_admin_client_properties(self.root, admin)
            cmd += ["--command-config", str(config)]
        try:
            out = subprocess.run(
                [*cmd, *args],
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise KafkaLauncherError(f"kafka-features gave no result in {timeout:g}s") from None
        if out.returncode != 0:
            last = "\n".join((out.stdout + out.stderr).strip().splitlines()[-15:])
            raise KafkaLauncherError(f"kafka-features failed (exit {out.returncode}):\n{last}")
        return out.stdout

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker: SIGTERM, SIGKILL after ``timeout`` s; False when none was running."""
        pid = self._live_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pid, sig)  # the broker leads its group: java and any child go
            except ProcessLookupError:
                break
            except PermissionError:
                raise KafkaLauncherError(f"not allowed to stop the broker (pid {pid})") from None
            end = time.monotonic() + wait
            while self._live_pid() is not None and time.monotonic() < end:
                time.sleep(0.1)
            if self._live_pid() is None:
                break
        if self._live_pid() is not None:
            raise KafkaLauncherError(f"the Kafka broker (pid {pid}) survived SIGKILL")
        if self._proc is not None:  # our child: reap it, or a zombie keeps the pid
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5.0)
            self._proc = None
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> LocalKafkaStatus:
        """Whether this broker's process is alive, and where to find it."""
        pid = self._live_pid()
        bootstrap = self._running_bootstrap() if pid is not None else self.bootstrap
        return LocalKafkaStatus(pid is not None, pid, bootstrap, self.data_dir, self.log_file)

    def _java(self) -> str:
        home = os.environ.get("JAVA_HOME")
        if home and (Path(home) / "bin" / "java").is_file():
            return str(Path(home) / "bin" / "java")
        java = shutil.which("java")
        if java is None:
            raise KafkaLauncherError("`java` is not on PATH; Kafka needs it", hint=_JAVA_HINT)
        return java

    def _render_properties(self) -> None:
        template = self.deploy_dir / "server.properties.template"
        try:
            text = template.read_text()
        except OSError as exc:
            raise KafkaLauncherError(f"cannot read {template}: {exc.strerror}") from None
        try:
            rendered = text.format(
                port=self.port,
                controller_port=self.controller_port,
                data_dir=self.data_dir,
                message_max_bytes=broker_message_max_bytes(self.max_package_bytes),
            )
        except (KeyError, IndexError, ValueError) as exc:
            raise KafkaLauncherError(
                f"{template} has a bad placeholder ({exc!r})",
                hint="placeholders are port, controller_port, data_dir, message_max_bytes; "
                "double literal braces",
            ) from None
        admin = self.admin
        if admin is None:
            self.properties.write_text(rendered)
            return
        ports = {"port": self.port, "controller_port": self.controller_port}
        overlay = secure_mode.render_overlay(self.deploy_dir, password=admin.password, **ports)
        write_private_file(self.properties, rendered + "\n" + overlay)  # holds the password

    def _running_bootstrap(self) -> str:
        """Client address in the rendered server.properties: the running broker's real port."""
        found = self.bootstrap
        with contextlib.suppress(OSError):
            for line in self.properties.read_text().splitlines():
                if line.startswith("advertised.listeners="):  # the last one wins, as in Java
                    found = line.split("//", 1)[-1].split(",", 1)[0].strip()
        return found

    def _running_secure(self) -> bool:
        """True when the rendered configuration (of the running broker) enables SASL."""
        with contextlib.suppress(OSError):
            return "\nsasl.enabled.mechanisms=" in self.properties.read_text()
        return False

    def _format_storage(self, java: str, lib: Path) -> None:
        if (self.data_dir / "meta.properties").is_file():
            return  # formatted before; skip a JVM start
        id_file = self.root / "cluster.id"
        if not id_file.is_file():
            id_file.write_text(new_cluster_id() + "\n")
        tool = [java, "-cp", str(lib / "*"), "kafka.tools.StorageTool", "format"]
        args = ["-t", id_file.read_text().strip(), "-c", str(self.properties)]
        admin = self.admin
        if admin is not None:  # the super-user must exist before anyone can log in
            args += secure_mode.scram_format_args(admin.password)
        run_tool(
            [*tool, *args, "--ignore-formatted"],
            self.root,
            120,
            f"formatting Kafka storage in {self.data_dir} failed",
        )

    def _live_pid(self) -> int | None:
        """Pid from the pid file if that process is alive and is this broker (pids get reused)."""
        if self._proc is not None and self._proc.poll() is not None:
            return None  # our child exited; poll() also reaped it
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_broker(pid, str(self.properties)) else None

    def _logtail(self) -> str:
        return tail(self.console_log) or tail(self.log_file) or "(no log output)"
