"""Strimzi CRD schemas for the manifest tests, generated from Maven Central (no cluster).

``deploy/k8s/schemas/pom.xml`` names the Strimzi API model and Strimzi's CRD
generator; Maven fetches both once, the generator writes the CRDs of the kinds the
manifests use, and they are cached under ``EDOC_VAR_DIR/k8s-schemas/<pom sha256>/`` —
the same fetch-once pattern as the broker jars. Without Java or Maven the tests that
need them skip (fail on CI), like the Kafka tests.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import yaml

from hub.settings import REPO_ROOT, get_settings
from tests._ci import unavailable as ci_unavailable

POM = REPO_ROOT / "deploy" / "k8s" / "schemas" / "pom.xml"
#: CRD generator arguments: the kinds deploy/k8s uses, served as v1beta2.
KINDS = {
    "Kafka": "io.strimzi.api.kafka.model.kafka.Kafka",
    "KafkaNodePool": "io.strimzi.api.kafka.model.nodepool.KafkaNodePool",
    "KafkaTopic": "io.strimzi.api.kafka.model.topic.KafkaTopic",
    "KafkaUser": "io.strimzi.api.kafka.model.user.KafkaUser",
}
VERSION = "v1beta2"


def unavailable(reason: str) -> NoReturn:
    """Fail on CI, skip elsewhere (tests/_ci.py)."""
    ci_unavailable("Strimzi CRD schemas", reason)


def _run(cmd: list[str], cwd: Path) -> None:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    if out.returncode != 0:
        unavailable(f"{cmd[0]} exited {out.returncode}: {(out.stdout + out.stderr)[-1500:]}")


def crd_dir() -> Path:
    """The directory holding ``<Kind>.yaml`` CRDs, generated on first use."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    out = get_settings().var_dir / "k8s-schemas" / digest
    if all((out / f"{k}.yaml").is_file() for k in KINDS):
        return out
    mvn, java = shutil.which("mvn"), shutil.which("java")
    if mvn is None or java is None:
        unavailable(
            "Maven and a JDK are needed to generate them (scripts/bootstrap.sh installs both)"
        )
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    lib = staging / "lib"
    _run(
        [mvn, "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
         "-f", str(POM), f"-DoutputDirectory={lib}"],
        POM.parent,
    )  # fmt: skip
    args = ["--crd-api-version", "v1", "--api-versions", VERSION, "--storage-version", VERSION]
    targets = [f"{cls}={staging / kind}.yaml" for kind, cls in KINDS.items()]
    _run(
        [
            java,
            "-cp",
            f"{lib}/*",
            "io.strimzi.crdgenerator.CrdGenerator",
            "--yaml",
            *args,
            *targets,
        ],
        staging,
    )
    shutil.rmtree(lib)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def _strict(schema: Any) -> Any:
    """Reject unknown fields like ``kubectl apply --validate=strict`` (structural schemas)."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def schema_of(kind: str) -> dict[str, Any]:
    """The strict JSON schema of ``kind`` at ``VERSION``, with apiVersion/kind/metadata."""
    crd = yaml.safe_load((crd_dir() / f"{kind}.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == VERSION]
    schema = _strict(version["schema"]["openAPIV3Schema"])
    schema.setdefault("properties", {})
    schema["properties"] |= {"apiVersion": {"type": "string"}, "kind": {"type": "string"}}
    schema["properties"]["metadata"] = {"type": "object"}
    schema["additionalProperties"] = False
    return schema  # type: ignore[no-any-return]
