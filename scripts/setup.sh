#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for facepay: system packages, a virtualenv in
# .venv (or $FACEPAY_VENV) with facepay and all its extras. Safe to run again.
# Usage: bash scripts/setup.sh [-v]
# Quiet by default: it prints its own "setup:" lines; apt's and pip's output is shown in
# full only when they fail (or always with -v).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${FACEPAY_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
verbose=0
case "${1:-}" in
  -v | --verbose) verbose=1 ;;
  "") ;;
  *) echo "usage: bash scripts/setup.sh [-v]" >&2; exit 2 ;;
esac

# Run a command; keep its output to itself unless it fails (then all of it, on stderr).
quietly() {
  if [ "$verbose" = 1 ]; then
    "$@"
    return
  fi
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "setup: failed: $*" >&2
    exit 1
  fi
  rm -f "$log"
}

# Qt's xcb platform and QtMultimedia need these; xvfb for screenshots; PostgreSQL for the
# backend's multi-replica storage tests.
apt_pkgs=(libpulse0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libxcb-cursor0 libegl1 libgl1 xvfb xauth)
# The kiosk speaks English, Chinese and Arabic: DejaVu covers Latin and Arabic, Droid Sans
# Fallback the Chinese characters (without it they draw as empty boxes).
apt_pkgs+=(fonts-dejavu-core fonts-droid-fallback)
command -v initdb >/dev/null 2>&1 || [ -x /usr/lib/postgresql/15/bin/initdb ] || apt_pkgs+=(postgresql)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # Another apt (unattended-upgrades on a fresh machine, a second setup) may hold the
  # dpkg or lists lock: wait up to 10 minutes for it instead of failing at once.
  # apt-get update does not honour that timeout for its lists lock (apt 2.6): retry it
  # while, and only while, the lock is what stops it.
  apt_wait=(-o DPkg::Lock::Timeout=600)
  deadline=$((SECONDS + 600))
  until out=$($SUDO apt-get "${apt_wait[@]}" update -qq 2>&1); do
    if [[ "$out" != *"Could not get lock"* ]] || ((SECONDS >= deadline)); then
      echo "$out" >&2
      exit 1
    fi
    echo "setup: another apt process holds the package lists; waiting for it" >&2
    sleep 5
  done
  echo "setup: installing system packages: ${missing[*]}"
  quietly $SUDO env DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install -y -qq "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating the virtualenv $VENV"
  quietly "$PYTHON" -m venv "$VENV"
fi
echo "setup: installing facepay and its dependencies into $VENV (pip; -v shows its output)"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_ROOT_USER_ACTION=ignore
quietly "${pip[@]}" install --upgrade pip
quietly "${pip[@]}" install -e ".[all]"
echo "setup: facepay is set up in $VENV"
