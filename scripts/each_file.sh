#!/usr/bin/env bash
# Run every test file alone, N times each, and log pass/fail and time per run: the check
# for tests that pass in the full suite only because the machine is slow or busy (issue 15).
#
# Usage: bash scripts/each_file.sh [-n N] [-l LOG] [FILE ...]
#        bash scripts/each_file.sh -s LOG     (only summarise an existing log)
#   -n N    runs per file (default 5)
#   -l LOG  the log (default each_file.log); one line per run:
#           <file> <run> <pass|fail> <seconds> <pytest's last line>
#   FILE    test files to run (default: every tests/**/test_*.py)
# A failing run, and every file's first run (with --durations=20), keeps its whole output
# in LOG.d/<file>.<run>.txt. The summary at the end
# lists each file that failed at least once and the slowest files; the exit code is 1 when
# any run failed. Meant to run in the background at low priority:
#   CI=true nice -n 19 bash scripts/each_file.sh -n 5 -l /tmp/each.log &
set -uo pipefail
cd "$(dirname "$0")/.."
runs=5
log=each_file.log
summary_only=0
while getopts "n:l:s:" opt; do
  case "$opt" in
    n) runs="$OPTARG" ;;
    l) log="$OPTARG" ;;
    s) log="$OPTARG"; summary_only=1 ;;
    *) echo "usage: $0 [-n N] [-l LOG] [FILE ...] | -s LOG" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

summarise() {
  python3 - "$1" <<'EOF'
import collections
import sys

runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    f, _, status, secs, *_ = line.split()
    runs[f].append((status, float(secs)))
failed = {f: r for f, r in runs.items() if any(s == "fail" for s, _ in r)}
total = sum(len(r) for r in runs.values())
fails = sum(s == "fail" for r in runs.values() for s, _ in r)
print(f"{len(runs)} files, {total} runs, {fails} runs failed")
for f, r in sorted(failed.items()):
    print(f"  FLAKY/FAILING {f}: {sum(s == 'fail' for s, _ in r)} of {len(r)} runs failed")
print("slowest files (median seconds per run):")
med = {f: sorted(t for _, t in r)[len(r) // 2] for f, r in runs.items()}
for f, t in sorted(med.items(), key=lambda kv: -kv[1])[:15]:
    print(f"  {t:7.1f}  {f}")
print(f"sum of medians: {sum(med.values()):.0f} s")
sys.exit(1 if failed else 0)
EOF
}
[ "$summary_only" = 0 ] || { summarise "$log"; exit; }
VENV="${FACEPAY_VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export QT_QPA_PLATFORM=offscreen
export FACEPAY_EVAL_DIR="${FACEPAY_EVAL_DIR:-$(cd .. && pwd)/shared/eval}"

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(find tests -name 'test_*.py' | sort)
fi
outdir="$log.d"
mkdir -p "$outdir"
: >"$log"
echo "# each_file: ${#files[@]} files x $runs runs, $(nproc) cores, started $(date -u +%FT%TZ)," \
  "load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$log"
# Round by round, so that after the first round every file has run once.
for ((i = 1; i <= runs; i++)); do
  for f in "${files[@]}"; do
    out="$outdir/$(echo "$f" | tr / _).$i.txt"
    start=$(date +%s%N)
    python -m pytest "$f" -q -p no:cacheprovider --durations=20 >"$out" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    status=pass
    [ "$rc" -eq 0 ] || status=fail
    last=$(grep -E '(passed|failed|error|no tests ran)' "$out" | tail -1 | tr -s ' =' ' ')
    printf '%s %d %s %d.%d %s\n' "$f" "$i" "$status" $((ms / 1000)) $((ms % 1000 / 100)) "$last" >>"$log"
    [ "$status" = fail ] || [ "$i" -eq 1 ] || rm -f "$out"
  done
done
echo "# finished $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$log"
summarise "$log"
