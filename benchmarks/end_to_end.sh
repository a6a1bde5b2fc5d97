#!/bin/bash
# The end-to-end figures of issue #15 on a fresh clone (benchmarks/results.md, "End to end"):
#   benchmarks/end_to_end.sh [WORK_DIR] [REV]
# clones this repository at REV (default HEAD) into WORK_DIR/fc and times, in order:
#   make venv; make reports with an empty PyTensor/lndbayes compile folder (a machine that never
#   compiled a model); make reports again with reports/ and .cache emptied (compiled models on
#   disk); make reports with nothing changed; then a new month with its own posterior cache: the
#   example's kpis.csv without its last month (2025-12) reported, the file put back and reported.
# Each run's output is kept in WORK_DIR/<run>.log.
set -e
W=$(realpath -m "${1:-/tmp/lndbayes-end-to-end}"); REV=${2:-HEAD}
SRC=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
rm -rf "$W/fc" "$W/pt" "$W/nmcache"; mkdir -p "$W"; cd "$W"
git clone -q "$SRC" fc; cd fc; git checkout -q "$REV"; git log --oneline -1
export PYTENSOR_FLAGS=base_compiledir=$W/pt TERM=dumb
t() { local name=$1; shift; local s=$(date +%s.%N); "$@" > "$W/$name.log" 2>&1
      printf '%-9s %6.1f s  (load %s)\n' "$name" "$(echo "$(date +%s.%N) - $s" | bc)" "$(cut -d' ' -f1 /proc/loadavg)"; }
t venv make venv
t cold make reports
rm -rf reports/* .cache; t warm make reports
t noop make reports
cp data/synthetic/raw/kpis.csv "$W/kpis.full"
grep -v ",2025-12," "$W/kpis.full" > data/synthetic/raw/kpis.csv
LNDBAYES_CACHE=$W/nmcache t monthless make reports
cp "$W/kpis.full" data/synthetic/raw/kpis.csv
LNDBAYES_CACHE=$W/nmcache t newmonth make reports
