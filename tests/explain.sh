#!/bin/sh
# explain.sh: `deft explain` as a learner meets it. Its output on six trees must equal the golden
# files in tests/golden/ byte for byte, whatever the thread count; the tiny example's numbers must
# check against the reference (and fail when a merge is left out); every standard workload and
# 40 random forests must explain within 100 columns; --dot must write a graph Graphviz accepts;
# bad usage exits 2; and every relative link in docs/ and README.md must resolve.
# Usage: tests/explain.sh BUILD_DIR        (UPDATE=1 tests/explain.sh BUILD_DIR rewrites the goldens)
set -u
BUILD=${1:?usage: explain.sh BUILD_DIR}
DEFT=$BUILD/deft
here=$(cd "$(dirname "$0")" && pwd)
golden=$here/golden
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
. "$here/lib.sh"

# Lines wider than 100 columns (every character explain prints is one column wide: count the
# bytes that start a UTF-8 character).
too_wide() {
    LC_ALL=C tr -d '\200-\277' < "$1" | LC_ALL=C awk -v f="$2" 'length > 100 { print f ": line " NR " is " length " columns"; n++ } END { exit n > 0 }'
}

# golden NAME ARGS...: run twice with different thread counts; both runs must equal the golden.
golden() {
    name=$1
    shift
    OMP_NUM_THREADS=1 "$DEFT" explain "$@" > "$dir/$name.1" 2>&1
    code=$?
    OMP_NUM_THREADS=3 "$DEFT" explain "$@" > "$dir/$name.3" 2>&1
    if [ $code -ne 0 ]; then bad "explain $*: exit $code"; tail -5 "$dir/$name.1"; return; fi
    if ! cmp -s "$dir/$name.1" "$dir/$name.3"; then bad "explain $*: output depends on the thread count"; return; fi
    if too_wide "$dir/$name.1" "$name"; then :; else bad "explain $*: wider than 100 columns"; fi
    if [ "${UPDATE:-0}" = 1 ]; then
        mkdir -p "$golden"
        cp "$dir/$name.1" "$golden/$name.txt"
        echo "updated tests/golden/$name.txt"
        ok
    elif [ ! -f "$golden/$name.txt" ]; then
        bad "tests/golden/$name.txt is missing (UPDATE=1 $0 $BUILD writes it)"
    elif diff -u "$golden/$name.txt" "$dir/$name.1" > "$dir/$name.diff"; then
        ok
    else
        bad "explain $* differs from tests/golden/$name.txt (UPDATE=1 $0 $BUILD after checking it):"
        head -40 "$dir/$name.diff"
    fi
}

golden tiny --tiny
golden fewshot --workload fewshot
golden tot --workload tot
golden specdec --workload specdec --query 40
golden wide --workload wide --query 100
golden random-7 --workload random:7

# The tiny example's numbers are checked on every run, and the check bites.
expect 0 "tiny example checks" "checked: PASS" -- "$DEFT" explain --tiny
expect 1 "a merge left out fails the check" "checked: FAIL" -- "$DEFT" explain --tiny --plant-bug

# Every standard workload, a levels: forest and 40 random forests (with data: checked).
for w in fewshot fewshot50 tot specstar specdec wide levels:4,16,256,512_1024,256,64,32; do
    if "$DEFT" explain --workload "$w" > "$dir/w.txt" 2>&1; then
        if too_wide "$dir/w.txt" "$w"; then ok; else bad "explain $w: wider than 100 columns"; fi
    else
        bad "explain $w failed"; tail -3 "$dir/w.txt"
    fi
done
for seed in $(seq 0 39); do
    if "$DEFT" explain --workload "random:$seed" --limit 0 > "$dir/r.txt" 2>&1; then
        if ! grep -q "checked: PASS\|holds no query" "$dir/r.txt"; then bad "random:$seed: no check"; fi
        if too_wide "$dir/r.txt" "random:$seed"; then ok; else bad "random:$seed: wider than 100 columns"; fi
    else
        bad "explain random:$seed failed"; tail -3 "$dir/r.txt"
    fi
done
expect 0 "--full draws every node" "node 256, query 255" -- "$DEFT" explain --workload wide --full --limit 0
expect 0 "--chunk-size" "chunk_tokens 1000" -- "$DEFT" explain --workload fewshot --chunk-size 1000
expect 0 "--chunk-queries" "repeated" -- "$DEFT" explain --workload tot --chunk-queries 64

# A case directory, and pictures.
"$DEFT" gen --workload random:5 --out "$dir/case" > /dev/null 2>&1
expect 0 "--case" "checked: PASS" -- "$DEFT" explain --case "$dir/case"
expect 0 "--dot" "6. IO" -- "$DEFT" explain --workload specdec --query 40 --dot "$dir/s.dot"
if command -v dot > /dev/null 2>&1; then
    if dot -Tsvg "$dir/s.dot" -o "$dir/s.svg" 2> "$dir/dot.err" && [ -s "$dir/s.svg" ]; then ok
    else bad "dot rejects the --dot output"; cat "$dir/dot.err"; fi
else
    echo "skipped: graphviz's dot is not installed (make docs installs it)"
    if grep -q '^digraph deft {' "$dir/s.dot"; then ok; else bad "--dot wrote no digraph"; fi
fi

# Bad usage and bad input: exit 2 with a reason.
expect 2 "no tree" "usage" -- "$DEFT" explain
expect 2 "two trees" "usage" -- "$DEFT" explain --tiny --workload tot
expect 2 "query out of range" "--query must be in 0..269" -- "$DEFT" explain --workload tot --query 270
expect 2 "unknown workload" "unknown workload" -- "$DEFT" explain --workload nope
expect 2 "bad chunk size" "--chunk-size" -- "$DEFT" explain --workload tot --chunk-size 0
expect 2 "unwritable --dot" "cannot write" -- "$DEFT" explain --tiny --dot "$dir/no/such/dir/x.dot"
expect 0 "--help" "usage: deft explain" -- "$DEFT" explain --help

# Links in the docs.
if /usr/bin/python3 "$here/links.py" > "$dir/links.txt" 2>&1; then ok; else bad "broken links:"; cat "$dir/links.txt"; fi

summary explain
