#!/bin/sh
# plugins.sh: kernels as plugins. Every planted-bug mutant (tests/mutants/mutant.c) must be caught
# by `deft check --random` within the budget while the correct control passes the same budget;
# the project's own paths run through the plugin ABI; the loader refuses what it must; and the
# Python route (examples/numpy_kernel.py) passes a correct kernel and fails a broken one.
# Usage: tests/plugins.sh BUILD_DIR [BUDGET]
set -u
B=${1:?usage: plugins.sh BUILD_DIR [BUDGET]}
BUDGET=${2:-200}
DEFT=$B/deft
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/lib.sh"

for m in causal_off_by_one skipped_ancestor chunk_twice gqa_wrong lse_base2 max_starts_at_zero \
         dropped_scale empty_node_nan nondeterministic_order unwritten_element; do
    out=$("$DEFT" check --plugin "$B/mutants/$m.so" --random "$BUDGET" --save "$dir/$m" 2>&1)
    code=$?
    if [ $code -eq 1 ]; then
        n=$(echo "$out" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
        echo "mutant $m: caught after $((n + 1)) random forests (budget $BUDGET)"
        ok
        # the saved case reproduces the failure on its own
        expect 1 "$m reproduces from its saved case" "FAIL" -- "$DEFT" check --case "$dir/$m" --plugin "$B/mutants/$m.so"
    else
        bad "mutant $m not caught within $BUDGET forests (exit $code)"
        echo "$out" | tail -3
    fi
done
# Within tolerance but not the same bits twice: the determinism check alone must catch it.
expect 1 "a run-dependent merge order" "NONDETERMINISTIC" -- \
    "$DEFT" check --plugin "$B/mutants/shuffled_order.so" --random "$BUDGET" --save "$dir/shuffled"
expect 0 "--allow-nondeterminism accepts it" "0 failed" -- \
    "$DEFT" check --plugin "$B/mutants/shuffled_order.so" --random 50 --allow-nondeterminism
expect 0 "the correct control passes the same budget" "0 failed" -- \
    "$DEFT" check --plugin "$B/mutants/correct.so" --random "$BUDGET"
expect 0 "cpu through the plugin ABI" "0 failed" -- \
    "$DEFT" check --plugin "$B/libdeft.so:deft_plugin_cpu" --random 40 --seed 1000
expect 0 "cpu-seq through the plugin ABI" "0 failed" -- \
    "$DEFT" check --plugin "$B/libdeft.so:deft_plugin_cpu_seq" --random 20
expect 0 "cpu by name, same budget" "0 failed" -- "$DEFT" check --impl cpu --random 40 --seed 1000

# The loader's refusals: each a clear status and exit 2.
expect 2 "missing library" "cannot load plugin" -- "$DEFT" check --plugin "$dir/nope.so" --random 1
expect 2 "not a shared object" "cannot load plugin" -- "$DEFT" check --plugin "$0" --random 1
expect 2 "missing symbol" "has no symbol 'nosuch'" -- "$DEFT" check --plugin "$B/mutants/correct.so:nosuch" --random 1
cc -std=c99 -shared -fPIC -Iinclude -DABI_VERSION=2 tests/mutants/mutant.c -o "$dir/abi2.so" -lm
expect 2 "incompatible ABI" "ABI version 2" -- "$DEFT" check --plugin "$dir/abi2.so" --random 1
expect 2 "plugin with --out" "usage" -- "$DEFT" check --plugin "$dir/abi2.so" --out x.npy --random 1
# Declined cases are skipped, never passed: a kernel that declines everything has checked nothing.
cc -std=c99 -shared -fPIC -Iinclude -DDECLINE_ALL -DMUTANT_NAME='"declines"' tests/mutants/mutant.c -o "$dir/declines.so" -lm
expect 2 "a kernel that declines every forest" "nothing was checked" -- \
    "$DEFT" check --plugin "$dir/declines.so" --random 20
cc -std=c99 -shared -fPIC -Iinclude -DDECLINE_ODD -DMUTANT_NAME='"declines_odd"' tests/mutants/mutant.c -o "$dir/declines_odd.so" -lm
expect 0 "a kernel that declines odd head dims: the rest checked" "skipped (declined), 0 failed" -- \
    "$DEFT" check --plugin "$dir/declines_odd.so" --random 40
expect 2 "a declined case" "declines" -- sh -c "'$DEFT' gen --workload fewshot --dim 3 --heads 2:1 --out '$dir/odd' >/dev/null && '$DEFT' check --case '$dir/odd' --plugin '$dir/declines_odd.so'"

# The Python route: a NumPy kernel validated through .npy files.
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    expect 0 "numpy kernel passes" "PASS" -- /usr/bin/python3 examples/numpy_kernel.py --deft "$DEFT" --workload fewshot
    expect 1 "numpy kernel with a causal bug fails" "FAIL" -- \
        /usr/bin/python3 examples/numpy_kernel.py --deft "$DEFT" --workload specdec --dtype bf16 --bug causal
else
    bad "python3-numpy missing: the Python route was not tested"
fi

summary plugins
