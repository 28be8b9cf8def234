#!/usr/bin/env bash
# mutants.sh: the differential fuzzer must catch planted bugs. Each planted-bug plugin in
# MUTANT_DIR (build/mutants/<name>.so, from tests/mutants/) is judged alone (DEFT_FUZZ_IMPLS=none)
# by the differential harness under afl-fuzz for at most FUZZ_MUTANT_SECONDS; the run stops as soon
# as AFL++ saves a crash. Then the controls run for the same budget and must save nothing: the
# `correct` plugin, and the project's own cpu and cpu-seq paths.
# For each caught mutant the saved input is turned into a case (tocase) and `deft check --plugin`
# must reproduce the mismatch (exit 1), when the deft binary has --plugin.
#   usage: fuzz/mutants.sh [MUTANT_DIR]      (default build/mutants)
#   env:   FUZZ_MUTANT_SECONDS (30), FUZZ_BUILD (build/fuzz), DEFT (build/deft),
#          FUZZ_MUTANTS (names to run; default every .so but correct)
# Exit 0 when every mutant is caught and the controls survive, 1 otherwise, 2 on set-up errors.
set -u
cd "$(dirname "$0")/.." || exit 2
. fuzz/env.sh

dir=${1:-build/mutants}
budget=${FUZZ_MUTANT_SECONDS:-30}
deft=${DEFT:-build/deft}
outroot=$FUZZ_BUILD/mutants
harness=$FUZZ_BUILD/fuzz_differential

if [ ! -f "$dir/correct.so" ]; then
    echo "fuzz-mutants: no $dir/correct.so: build the planted-bug plugins first (tests/mutants/)" >&2
    exit 2
fi
for b in "$harness" "$FUZZ_BUILD/replay_differential" "$FUZZ_BUILD/tocase"; do
    [ -x "$b" ] || { echo "fuzz-mutants: $b is not built (make fuzz-build)" >&2; exit 2; }
done
if [ -n "${FUZZ_MUTANTS:-}" ]; then
    names=$FUZZ_MUTANTS
else
    names=$(for f in "$dir"/*.so; do n=$(basename "$f" .so); [ "$n" = correct ] || echo "$n"; done)
fi
have_plugin_check=0
if [ -x "$deft" ] && "$deft" check --help 2>&1 | grep -q -- --plugin; then have_plugin_check=1; fi
mkdir -p "$outroot"

# Seeds that fail plugin $1 (with registered paths $2), replayed one by one (afl-fuzz skips them).
seed_failures() {
    local so=$1 impls=${2:-none} n=0 f
    for f in fuzz/corpus/differential/*; do
        ASAN_OPTIONS=$REPLAY_ASAN_OPTIONS DEFT_FUZZ_IMPLS=$impls DEFT_FUZZ_PLUGIN=$so \
            "$FUZZ_BUILD/replay_differential" "$f" >/dev/null 2>&1 || n=$((n + 1))
    done
    echo "$n"
}

# Runs afl-fuzz on plugin $2 (empty: none) with the registered paths $3 (default none) into
# $outroot/$1 until a crash is saved or the budget is spent.
# Sets: caught (0/1), secs (elapsed, 0.1 s), execs, crash (the first saved input).
fuzz_plugin() {
    local name=$1 so=$2 impls=${3:-none} out=$outroot/$1 start now pid
    rm -rf "$out"
    start=$(date +%s%N)
    # shellcheck disable=SC2046
    DEFT_FUZZ_IMPLS=$impls DEFT_FUZZ_PLUGIN=$so afl-fuzz -i fuzz/corpus/differential -o "$out" \
        -V "$budget" -m none $(fuzz_afl_opts differential) -- "$harness" \
        >"$out.log" 2>&1 </dev/null &
    pid=$!
    caught=0 crash=""
    while kill -0 "$pid" 2>/dev/null; do
        crash=$(find "$out/default/crashes" -name "id:*" 2>/dev/null | sort | head -n 1)
        if [ -n "$crash" ]; then
            caught=1
            kill -INT "$pid" 2>/dev/null
            break
        fi
        now=$(date +%s%N)
        if [ $(((now - start) / 1000000000)) -gt $((budget + 60)) ]; then
            kill -TERM "$pid" 2>/dev/null
            break
        fi
        sleep 0.2
    done
    now=$(date +%s%N)
    wait "$pid" 2>/dev/null
    secs=$(((now - start) / 100000000))
    secs="$((secs / 10)).$((secs % 10))"
    if [ "$caught" = 0 ]; then
        crash=$(find "$out/default/crashes" -name "id:*" 2>/dev/null | sort | head -n 1)
        [ -n "$crash" ] && caught=1
    fi
    execs=$(fuzz_stat "$out/default/fuzzer_stats" execs_done)
    execs=${execs:-?}
}

# The saved input as a case; deft check --plugin must fail on it (exit 1).
# The replay gives the input 16 times to one process: a run-dependent mutant (shuffled_order's
# merge order follows a per-process call count) need not differ on a fresh process's first two
# runs, as it did at the fuzzer's Nth; a deterministic failure stops at the first.
reproduce() {
    local name=$1 so=$2 case_dir=$outroot/$1.case why rc i
    local again=()
    for i in $(seq 16); do again+=("$crash"); done
    why=$(ASAN_OPTIONS=$REPLAY_ASAN_OPTIONS DEFT_FUZZ_IMPLS=none DEFT_FUZZ_PLUGIN=$so \
        "$FUZZ_BUILD/replay_differential" "${again[@]}" 2>&1 | grep -m 1 'FAILURE' | sed 's/.*FAILURE: //')
    echo "    why: ${why:-?}"
    rm -rf "$case_dir"
    if ! ASAN_OPTIONS=$REPLAY_ASAN_OPTIONS "$FUZZ_BUILD/tocase" "$crash" "$case_dir" >/dev/null; then
        echo "    tocase FAILED on $crash"
        return 1
    fi
    if [ "$have_plugin_check" = 0 ]; then
        echo "    case: $case_dir (not checked: $deft has no --plugin)"
        return 0
    fi
    case $why in
    *"not deterministic"*)
        echo "    case: $case_dir (a single deft check run cannot show nondeterminism)"
        return 0 ;;
    esac
    "$deft" check --case "$case_dir" --plugin "$so" >"$case_dir.check" 2>&1
    rc=$?
    if [ "$rc" = 1 ]; then
        echo "    reproduced: $deft check --case $case_dir --plugin $so -> exit 1"
        return 0
    fi
    echo "    NOT reproduced: $deft check --case $case_dir --plugin $so -> exit $rc"
    return 1
}

control_report() {
    local what=$1 seeds=$2 so=$3 impls=$4
    if [ "$caught" = 0 ] && [ "$seeds" = 0 ] && [ "$execs" != "?" ]; then
        echo "control $what: survived $secs s / $execs execs"
        return
    fi
    echo "control $what: FAILED ($seeds seeds fail; saved: ${crash:-none})"
    [ -n "$crash" ] && ASAN_OPTIONS=$REPLAY_ASAN_OPTIONS DEFT_FUZZ_IMPLS=$impls DEFT_FUZZ_PLUGIN=$so \
        "$FUZZ_BUILD/replay_differential" "$crash" 2>&1 | tail -n 12 | sed 's/^/    /'
    bad=1
}

bad=0 started=$(date +%s)
for name in $names; do
    so=$dir/$name.so
    if [ ! -f "$so" ]; then
        echo "mutant $name: MISSING ($so)"
        bad=1
        continue
    fi
    seeds=$(seed_failures "$so")
    fuzz_plugin "$name" "$so"
    if [ "$caught" = 1 ]; then
        echo "mutant $name: caught in $secs s / $execs execs ($seeds seeds fail it outright)"
        echo "    saved: $crash"
        reproduce "$name" "$so" || bad=1
    else
        echo "mutant $name: NOT caught in $secs s / $execs execs ($seeds seeds fail it outright); log $outroot/$name.log"
        bad=1
    fi
done

# Controls, same budget: the correct plugin alone, then the project's own CPU paths.
seeds=$(seed_failures "$dir/correct.so")
fuzz_plugin correct "$dir/correct.so"
control_report correct "$seeds" "$dir/correct.so" none
seeds=$(seed_failures "" cpu,cpu-seq)
fuzz_plugin cpu "" cpu,cpu-seq
control_report cpu,cpu-seq "$seeds" "" cpu,cpu-seq
echo "fuzz-mutants: $([ $bad = 0 ] && echo passed || echo FAILED) in $(($(date +%s) - started)) s"
exit $bad
