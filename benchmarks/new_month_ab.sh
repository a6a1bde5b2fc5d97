#!/bin/bash
# The example's new month, A/B on one snapshot (benchmarks/results.md, "End to end", session 16):
#   benchmarks/new_month_ab.sh WORK_DIR [PAIRS] [REV] [B]
# clones REV (default HEAD) into WORK_DIR/fc, installs it, reports the example once (compiling
# into WORK_DIR/pt), then reports it without its last month of KPIs (2025-12) with its own
# posterior cache and keeps that state as a snapshot. Each replay restores the snapshot, puts the
# month back and times `make reports`; PAIRS (default 5) alternating pairs compare the default
# (A) with B: an environment assignment (default LNDBAYES_FORKSERVER=0: spawned workers), or
# rev:OTHER_REV, another commit with its own clone (WORK_DIR/fcB) and snapshot, made the same way
# (a change to the package's source rebuilds every report, so each commit needs its own).
# Replays are comparable with each other, not with end_to_end.sh's fresh-clone figures.
set -e
W=$(realpath -m "${1:?usage: new_month_ab.sh WORK_DIR [PAIRS] [REV] [B]}"); PAIRS=${2:-5}
REV=${3:-HEAD}; B=${4:-LNDBAYES_FORKSERVER=0}
SRC=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
rm -rf "$W"; mkdir -p "$W"
export PYTENSOR_FLAGS=base_compiledir=$W/pt TERM=dumb

setup() {   # $1: clone folder name, $2: commit; leaves WORK_DIR/$1.snap and $1.kpis
  local name=$1 rev=$2
  cd "$W"; git clone -q "$SRC" "$name"; cd "$name"; git checkout -q "$rev"; git log --oneline -1
  export LNDBAYES_CACHE=$W/$name.cache
  make venv > "$W/$name.venv.log" 2>&1
  make reports > "$W/$name.full.log" 2>&1          # simulates the example, compiles its models
  rm -rf reports/* .cache "$LNDBAYES_CACHE"
  cp data/synthetic/raw/kpis.csv "$W/$name.kpis"
  grep -v ",2025-12," "$W/$name.kpis" > data/synthetic/raw/kpis.csv
  make reports > "$W/$name.monthless.log" 2>&1
  mkdir -p "$W/$name.snap"; cp -a reports data "$W/$name.snap/"; cp -a "$LNDBAYES_CACHE" "$W/$name.snap/cache"
}

replay() {   # $1: clone folder name, $2: label, then an optional VAR=value for the run
  local name=$1 label=$2; shift 2
  cd "$W/$name"; export LNDBAYES_CACHE=$W/$name.cache
  rm -rf reports data "$LNDBAYES_CACHE"
  cp -a "$W/$name.snap/reports" "$W/$name.snap/data" .; cp -a "$W/$name.snap/cache" "$LNDBAYES_CACHE"
  cp "$W/$name.kpis" data/synthetic/raw/kpis.csv
  local s=$(date +%s.%N)
  env "$@" make reports > "$W/$label.log" 2>&1
  printf '%-4s %6.2f s  (load %s)  first fit at %s\n' "$label" "$(echo "$(date +%s.%N) - $s" | bc)" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$(grep -m1 ': fitting' "$W/$label.log" | cut -d']' -f1 | tr -d '[ ')"
}

setup fc "$REV"
if [[ $B == rev:* ]]; then
  setup fcB "${B#rev:}"
  for i in $(seq 1 "$PAIRS"); do replay fc "A$i"; replay fcB "B$i"; done
else
  for i in $(seq 1 "$PAIRS"); do replay fc "A$i"; replay fc "B$i" "$B"; done
fi
