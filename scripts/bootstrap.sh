#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: a JDK, Maven and the
# PostgreSQL server (apt, when missing and we are root), the virtualenv and the
# Python packages. Idempotent and fast when nothing changed. Kafka jars are
# fetched by the launcher itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL server binaries for the tests' throwaway cluster (tests/_postgres.py).
# Debian keeps initdb and pg_ctl off PATH, in /usr/lib/postgresql/<version>/bin.
have_pg_server() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  local bin
  for bin in /usr/lib/postgresql/*/bin; do
    [[ -x $bin/initdb && -x $bin/pg_ctl ]] && return 0
  done
  return 1
}

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# xmlsec1 regenerates the edXML signature vectors (tests/vectors/edxml/make_vectors.sh).
command -v xmlsec1 >/dev/null 2>&1 || need_apt+=(xmlsec1)
have_pg_server || need_apt+=(postgresql)
# Headless browser for the console tests (driven by pip's playwright; nothing is downloaded).
[[ -x /usr/bin/chromium ]] || need_apt+=(chromium fonts-dejavu-core)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    if [[ " ${need_apt[*]} " == *" postgresql "* ]]; then
      # The tests start their own cluster: no system-wide "main" cluster on :5432.
      mkdir -p /etc/postgresql-common/createcluster.d
      echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/edoc-hub.conf
    fi
    echo "==> installing ${need_apt[*]} with apt" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "error: missing ${need_apt[*]}; install them (e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv" >&2
  "$PY" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
sum=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f .venv/.installed ]] || [[ $(cat .venv/.installed) != "$sum" ]]; then
  echo "==> installing Python packages into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$sum" > .venv/.installed
fi
