"""`edoc local kafka start|stop|status|features`: the development broker from the command line.

The bootstrap address goes to stdout (scriptable); progress and notes go to
stderr. Errors are raised as EdocError subclasses for the root CLI to print.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from hub.localkafka.broker import LocalKafka

app = typer.Typer(
    help="Run a single-node Kafka broker for development and tests "
    "(jars from Maven Central, no Docker; state under EDOC_VAR_DIR/kafka).",
    no_args_is_help=True,
)

_err = Console(stderr=True)

PortOpt = Annotated[
    int | None,
    typer.Option("--port", help="client port on 127.0.0.1 [default: EDOC_LOCAL_KAFKA_PORT, 19092]"),
]
ControllerPortOpt = Annotated[
    int | None,
    typer.Option(
        "--controller-port",
        help="KRaft controller port [default: EDOC_LOCAL_KAFKA_CONTROLLER_PORT, 19093]",
    ),
]

SecureOpt = Annotated[
    bool | None,
    typer.Option(
        "--secure/--plaintext",
        help="SASL_PLAINTEXT + SCRAM-SHA-512 + ACLs, super-user edoc-admin "
        "[default: EDOC_LOCAL_KAFKA_SECURE, plaintext]",
    ),
]

KafkaVersionOpt = Annotated[
    str | None,
    typer.Option(
        "--kafka-version",
        help="Kafka release to run, e.g. 4.0.0 (jars fetched from Maven Central once) "
        "[default: EDOC_LOCAL_KAFKA_VERSION, else kafka.version in deploy/kafka/pom.xml]",
    ),
]

#: Exit code of `status` when no broker runs (0 means running).
NOT_RUNNING = 3


@app.command()
def start(
    port: PortOpt = None,
    controller_port: ControllerPortOpt = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for readiness")] = 90.0,
    secure: SecureOpt = None,
    kafka_version: KafkaVersionOpt = None,
) -> None:
    """Start the broker (fetching its jars on first use) and wait until it is ready."""
    kafka = LocalKafka(
        port=port, controller_port=controller_port, secure=secure, kafka_version=kafka_version
    )
    with _err.status("Fetching Kafka jars from Maven Central (first run only)…"):
        kafka.ensure_jars()
    with _err.status(f"Starting Kafka on {kafka.bootstrap}…"):
        started = kafka.start(timeout=timeout)
    state = kafka.status()
    if started:
        _err.print(f"Kafka {kafka.version} is ready (pid {state.pid}); logs in {state.log_file}")
    else:
        _err.print(f"Kafka was already running (pid {state.pid})")
    if kafka.secure:
        env = kafka.root / "admin.env"  # the password stays in that 0600 file
        _err.print(
            "SASL/SCRAM and ACLs are on; the super-user's settings are in "
            f"{env}:\n  set -a; . {env}; set +a\n"
            "then `edoc kafka provision` creates the services' and agencies' users"
        )
    typer.echo(kafka.bootstrap)


@app.command()
def stop(
    timeout: Annotated[float, typer.Option(help="seconds before SIGKILL")] = 30.0,
) -> None:
    """Stop the broker; doing nothing when none runs."""
    kafka = LocalKafka()
    with _err.status("Stopping Kafka…"):
        stopped = kafka.stop(timeout=timeout)
    _err.print("Kafka stopped" if stopped else "Kafka was not running")


@app.command()
def status() -> None:
    """Print the bootstrap address; exit 0 when the broker runs, 3 when it does not."""
    state = LocalKafka().status()
    if not state.running:
        _err.print(f"Kafka is not running (data in {state.data_dir})")
        raise typer.Exit(NOT_RUNNING)
    _err.print(f"Kafka is running (pid {state.pid}); logs in {state.log_file}")
    typer.echo(state.bootstrap)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def features(ctx: typer.Context, kafka_version: KafkaVersionOpt = None) -> None:
    """Kafka's kafka-features tool on the running broker: describe, upgrade --metadata 4.1, …

    The arguments after `features` are the tool's; the bootstrap address and, on a
    secure broker, the super-user's login are added.
    """
    kafka = LocalKafka(kafka_version=kafka_version)
    with _err.status("Running kafka-features…"):
        out = kafka.features(list(ctx.args))
    typer.echo(out, nl=False)
