#!/usr/bin/env bash
# The whole test suite, as CI runs it: set up, lint, type-check, import contracts, tests.
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${FACEPAY_VENV:-.venv}"
[ "${FACEPAY_SKIP_SETUP:-0}" = "1" ] || bash scripts/setup.sh
export PATH="$PWD/$VENV/bin:$PATH"
export QT_QPA_PLATFORM=offscreen
# The evaluation data is read at run time from ../shared/eval, never copied in.
export FACEPAY_EVAL_DIR="${FACEPAY_EVAL_DIR:-$(cd .. && pwd)/shared/eval}"

echo "== ruff check";         ruff check .
echo "== ruff format --check"; ruff format --check .
echo "== mypy";               mypy
echo "== lint-imports";       lint-imports
# Two workers, each test file whole on one of them (its module fixtures built once):
# FACEPAY_TEST_WORKERS=0 runs it in one process (docs/testing.md, "Running the suite").
echo "== pytest";             python -m pytest -n "${FACEPAY_TEST_WORKERS:-2}" --dist loadfile "$@"
