#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for facepay: system packages, a virtualenv in
# .venv (or $FACEPAY_VENV) with facepay and all its extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${FACEPAY_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

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
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${apt_wait[@]}" install -y -qq "${missing[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[all]"
echo "facepay is set up in $VENV"
