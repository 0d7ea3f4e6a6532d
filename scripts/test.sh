#!/usr/bin/env bash
# The whole test suite: install, lint, then pytest. The tests start the real
# services they need (a Kafka broker from Maven Central jars); on CI (CI=true)
# a test whose service cannot start fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/lint.sh
echo "==> pytest" >&2
mkdir -p .ci/artifacts
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
