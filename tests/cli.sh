#!/bin/sh
# cli.sh: the command-line program end to end, as a user meets it: generate a case, check the
# reference's own output (pass), flip one value (exit 1, the element named), break the tree file
# (exit 2, the node named), and bad usage (exit 2). Usage: tests/cli.sh path/to/deft
set -u
DEFT=${1:?usage: cli.sh DEFT}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/lib.sh"

# fewshot (20 queries): a tree whose reference takes seconds, not tot's 18 s per check
expect 0 "gen fewshot" "20 queries" -- "$DEFT" gen --workload fewshot --out "$dir/c"
expect 0 "check the reference's output" "PASS" -- \
    "$DEFT" check --case "$dir/c" --out "$dir/c/out.npy" --lse "$dir/c/lse.npy"

# Flip element 12345 of out.npy (query 3, head 0, dim 57 for 32 heads x 128 dims) to 1000.0.
cp "$dir/c/out.npy" "$dir/flipped.npy"
hlen=$(od -An -tu2 -j8 -N2 "$dir/flipped.npy" | tr -d ' ')
printf '\000\000\172\104' | dd of="$dir/flipped.npy" bs=1 seek=$((10 + hlen + 4 * 12345)) conv=notrunc 2>/dev/null
expect 1 "one flipped value" "query 3, head 0, dim 57" -- "$DEFT" check --case "$dir/c" --out "$dir/flipped.npy"

# A tree file whose node 3 names parent 5.
mkdir "$dir/broken"
cp "$dir/c"/*.npy "$dir/broken/"
sed 's/^3 0 100 1$/3 5 100 1/' "$dir/c/tree.txt" > "$dir/broken/tree.txt"
expect 2 "node 3 names parent 5" "node 3" -- "$DEFT" check --case "$dir/broken" --out "$dir/c/out.npy"
expect 2 "run on the broken tree" "DEFT_ERR_BAD_PARENT" -- "$DEFT" run --case "$dir/broken"

# Usage and bad input.
expect 2 "no command" "usage" -- "$DEFT"
expect 2 "unknown command" "unknown command" -- "$DEFT" frobnicate
expect 2 "check without --case" "usage" -- "$DEFT" check --out x.npy
expect 2 "unknown option" "unknown argument" -- "$DEFT" gen --workload tot --out "$dir/x" --bogus 1
expect 2 "unknown workload" "unknown workload" -- "$DEFT" gen --workload nope --out "$dir/x"
expect 2 "bad heads" "--heads" -- "$DEFT" gen --workload tot --heads 32:x --out "$dir/x"
expect 2 "missing case" "DEFT_ERR_IO" -- "$DEFT" run --case "$dir/nowhere"
expect 2 "unknown impl" "unknown implementation" -- "$DEFT" run --case "$dir/c" --impl nope
expect 2 "wrong output shape" "DEFT_ERR_SHAPE" -- "$DEFT" check --case "$dir/c" --out "$dir/c/lse.npy"
for cmd in gen run check demo impls; do
    expect 0 "$cmd --help" "usage" -- "$DEFT" "$cmd" --help
done
expect 0 "--help" "usage" -- "$DEFT" --help
# Out of memory is a status and a message, not a crash: wide's tensors (800 MB) under a 400 MB
# address-space limit, and a small tree under the same limit to show the limit alone is harmless.
expect 2 "out of memory" "DEFT_ERR_NO_MEMORY" -- sh -c "ulimit -v 400000 && '$DEFT' gen --workload wide --out '$dir/big'"
expect 0 "the same limit, a small tree" "wrote" -- sh -c "ulimit -v 400000 && '$DEFT' gen --workload fewshot --out '$dir/small'"

# Every implementation round-trips through files on a small case.
expect 0 "gen small" "wrote" -- "$DEFT" gen --workload random:11 --out "$dir/s"
for impl in $("$DEFT" impls | awk '{print $1}'); do
    "$DEFT" run --case "$dir/s" --impl "$impl" --out "$dir/s/o-$impl.npy" --lse "$dir/s/l-$impl.npy" >/dev/null 2>&1
    code=$?
    if [ $code -eq 0 ]; then
        expect 0 "$impl output passes" "PASS" -- "$DEFT" check --case "$dir/s" --out "$dir/s/o-$impl.npy" --lse "$dir/s/l-$impl.npy"
    elif "$DEFT" run --case "$dir/s" --impl "$impl" 2>&1 | grep -q 'UNSUPPORTED\|DEVICE'; then
        echo "skipped: $impl does not run here"
    else
        bad "run --impl $impl exited $code"
    fi
done

summary cli
