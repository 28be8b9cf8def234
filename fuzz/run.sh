#!/usr/bin/env bash
# run.sh: runs harnesses under afl-fuzz for a fixed time and reports each one's executions, saved
# crashes and hangs from its fuzzer_stats (afl-fuzz exits 0 even when it found crashes).
#   usage: fuzz/run.sh SECONDS OUTROOT HARNESS...
#   env:   FUZZ_JOBS (harnesses at once, default 1), FUZZ_BUILD (default build/fuzz)
# Output goes to OUTROOT/<harness>/default/{fuzzer_stats,crashes,hangs,queue} and
# OUTROOT/<harness>.log. Exit 0 when every harness ran and saved nothing, 1 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 2
. fuzz/env.sh

if [ $# -lt 3 ]; then
    echo "usage: fuzz/run.sh SECONDS OUTROOT HARNESS..." >&2
    exit 2
fi
secs=$1 outroot=$2
shift 2
jobs=${FUZZ_JOBS:-1}
mkdir -p "$outroot"

run_one() {
    local h=$1 out=$outroot/$1
    rm -rf "$out"
    # shellcheck disable=SC2046
    timeout -k 10 $((secs + 300)) afl-fuzz -i "fuzz/corpus/$h" -o "$out" -V "$secs" -m none \
        $(fuzz_afl_opts "$h") -- "$FUZZ_BUILD/fuzz_$h" >"$out.log" 2>&1
    echo $? >"$out.rc"
}

started=$(date +%s)
n=0
for h in "$@"; do
    if [ ! -x "$FUZZ_BUILD/fuzz_$h" ]; then
        echo "fuzz: $FUZZ_BUILD/fuzz_$h is not built" >&2
        exit 2
    fi
    echo "fuzz $h: ${secs} s under afl-fuzz -> $outroot/$h"
    run_one "$h" &
    n=$((n + 1))
    if [ $((n % jobs)) -eq 0 ]; then wait; fi
done
wait

bad=0
for h in "$@"; do
    out=$outroot/$h stats=$outroot/$h/default/fuzzer_stats
    rc=$(cat "$out.rc" 2>/dev/null || echo "?")
    execs=$(fuzz_stat "$stats" execs_done)
    if [ "$rc" != 0 ] || [ -z "$execs" ] || [ "$execs" = 0 ]; then
        echo "fuzz $h: FAILED TO RUN (afl-fuzz exit $rc); the end of $out.log:"
        tail -n 15 "$out.log" | sed 's/^/    /'
        bad=1
        continue
    fi
    crashes=$(fuzz_stat "$stats" saved_crashes) hangs=$(fuzz_stat "$stats" saved_hangs)
    run_time=$(fuzz_stat "$stats" run_time) corpus=$(fuzz_stat "$stats" corpus_count)
    edges=$(fuzz_stat "$stats" edges_found)
    [ -n "$run_time" ] && [ "$run_time" -gt 0 ] || run_time=1
    verdict=ok
    if [ "${crashes:-0}" -gt 0 ] || [ "${hangs:-0}" -gt 0 ]; then verdict=FAILED bad=1; fi
    echo "fuzz $h: $verdict: $execs execs in $run_time s ($((execs / run_time))/s), ${crashes:-?} crashes, ${hangs:-?} hangs, corpus $corpus, edges $edges"
    for f in "$out"/default/crashes/id:* "$out"/default/hangs/id:*; do
        [ -e "$f" ] || continue
        echo "    saved: $f"
        echo "      replay: $FUZZ_BUILD/replay_$h '$f'"
        [ "$h" = differential ] && echo "      as a case: $FUZZ_BUILD/tocase '$f' DIR && build/deft check --case DIR --impl cpu"
    done
done
echo "fuzz: done in $(($(date +%s) - started)) s"
exit $bad
