#!/bin/bash
# The example's new month, A/B on one snapshot (benchmarks/results.md, "End to end", session 16):
#   benchmarks/new_month_ab.sh WORK_DIR [PAIRS] [REV] [B_ENV]
# clones REV (default HEAD) into WORK_DIR/fc, installs it, reports the example once (compiling
# into WORK_DIR/pt), then reports it without its last month of KPIs (2025-12) with its own
# posterior cache and keeps that state as a snapshot. Each replay restores the snapshot, puts the
# month back and times `make reports`; PAIRS (default 5) alternating pairs compare the default
# (A) with the environment assignment B_ENV (default LNDBAYES_FORKSERVER=0: spawned workers).
# Replays are comparable with each other, not with end_to_end.sh's fresh-clone figures.
set -e
W=$(realpath -m "${1:?usage: new_month_ab.sh WORK_DIR [PAIRS] [REV] [B_ENV]}"); PAIRS=${2:-5}
REV=${3:-HEAD}; B_ENV=${4:-LNDBAYES_FORKSERVER=0}
SRC=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
rm -rf "$W"; mkdir -p "$W"; cd "$W"
git clone -q "$SRC" fc; cd fc; git checkout -q "$REV"; git log --oneline -1
export PYTENSOR_FLAGS=base_compiledir=$W/pt TERM=dumb LNDBAYES_CACHE=$W/cache
make venv > "$W/venv.log" 2>&1
make reports > "$W/full.log" 2>&1                  # simulates the example, compiles its models
rm -rf reports/* .cache "$W/cache"
cp data/synthetic/raw/kpis.csv "$W/kpis.full"
grep -v ",2025-12," "$W/kpis.full" > data/synthetic/raw/kpis.csv
make reports > "$W/monthless.log" 2>&1
mkdir -p "$W/snap"; cp -a reports data "$W/snap/"; cp -a "$W/cache" "$W/snap/cache"
replay() {   # $1: label, then an optional VAR=value for the run
  local label=$1; shift
  rm -rf reports data "$W/cache"; cp -a "$W/snap/reports" "$W/snap/data" .; cp -a "$W/snap/cache" "$W/cache"
  cp "$W/kpis.full" data/synthetic/raw/kpis.csv
  local s=$(date +%s.%N)
  env "$@" make reports > "$W/$label.log" 2>&1
  printf '%-4s %6.2f s  (load %s)  first fit at %s\n' "$label" "$(echo "$(date +%s.%N) - $s" | bc)" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$(grep -m1 ': fitting' "$W/$label.log" | cut -d']' -f1 | tr -d '[ ')"
}
for i in $(seq 1 "$PAIRS"); do replay "A$i"; replay "B$i" "$B_ENV"; done
