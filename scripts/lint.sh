#!/usr/bin/env bash
# Static checks: ruff, mypy, and the layering contract (import-linter).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> ruff" >&2
.venv/bin/ruff check .
echo "==> mypy" >&2
.venv/bin/mypy schemas signing hub connectors edoc
echo "==> import-linter (schemas <- signing <- {hub | connectors} <- edoc)" >&2
.venv/bin/lint-imports
