#!/bin/sh
# proofs/coq/check.sh SRC OUT: compiles the Coq proofs of SRC (Merge.v, Forest.v, Plan.v, in
# dependency order) in OUT, then fails if any of them admits a goal or declares an axiom, or if a
# main theorem rests on an axiom the standard reals library does not itself use (the library's
# are read off `Print Assumptions exp_ln`, so the list follows the installed Coq).
set -u
src=$1 out=$2
FILES="Merge Forest Plan"
THEOREMS="Merge.merge_comm Merge.merge_assoc Merge.merge_empty_l Merge.merge_empty_r
Merge.merge_proper Merge.merge_shift Merge.attn_single Merge.attn_shift_form Merge.attn_set
Merge.partition_fold Merge.partition_any_order Merge.partition_tree Merge.partition_exactly_once
Merge.reduce_shifted Forest.ancs_spec Forest.vis_list_exact Forest.ancestor_tokens_rec
Forest.vis_count Plan.split_exact Plan.split_even Plan.chunk_bounds Plan.slices_partition
Plan.slice_nonempty Plan.slice_bound Plan.red_list_covers Plan.red_list_exactly_once
Plan.red_list_pairs_bounded Plan.deft_exact Plan.deft_equals_reference Plan.deft_any_order
Plan.deft_any_tree"
rm -rf "$out" && mkdir -p "$out" || exit 1
for f in $FILES; do cp "$src/$f.v" "$out/" || exit 1; done
cd "$out" || exit 1

# 1. No admitted goal, no axiom or parameter of our own (comments stripped first).
for f in $FILES; do
    sed -e 's/(\*[^*]*\*)//g' "$f.v" | grep -nE '\b(Admitted|admit|Axiom|Axioms|Parameter|Parameters|Conjecture|Hypothesis [a-z_]+ *: *False)\b' |
        sed "s|^|$f.v:|" > bad.txt
    if [ -s bad.txt ]; then echo "coq: FAILED: $f.v admits or assumes:"; cat bad.txt; exit 1; fi
done

# 2. Compile.
for f in $FILES; do
    if ! coqc -q -Q . Deft "$f.v" > "$f.log" 2>&1; then
        echo "coq: FAILED: $f.v does not compile:"; cat "$f.log"; exit 1
    fi
done

# 3. The main theorems' assumptions: only the standard reals library's.
{
    echo 'Require Import Reals Deft.Merge Deft.Forest Deft.Plan.'
    echo 'Print Assumptions exp_ln.'
    for t in $THEOREMS; do echo "Print Assumptions Deft.$t."; done
} > Assumptions.v
coqc -q -Q . Deft Assumptions.v > assumptions.log 2>&1 || { echo "coq: FAILED:"; cat assumptions.log; exit 1; }
# Each block starts "Axioms:" or "Closed under the global context"; an axiom's name starts a
# line (its type follows, on the same line or indented below).
awk '/^Axioms:|^Closed under/ {b++; next} /^[A-Za-z][A-Za-z0-9_.]*( :|$)/ && b > 0 {print b, $1}' assumptions.log > axioms.txt
awk '$1 == 1 {print $2}' axioms.txt | sort -u > allowed.txt
awk '$1 > 1 {print $2}' axioms.txt | sort -u > used.txt
blocks=$(grep -cE '^Axioms:|^Closed under' assumptions.log)
n=$(echo $THEOREMS | wc -w)
if [ "$blocks" -ne $((n + 1)) ]; then echo "coq: FAILED: $blocks assumption reports for $((n + 1)) queries"; cat assumptions.log; exit 1; fi
extra=$(comm -23 used.txt allowed.txt)
if [ -n "$extra" ]; then echo "coq: FAILED: theorems rest on axioms beyond the reals library: $extra"; exit 1; fi
lemmas=$(for f in $FILES; do grep -cE '^ *(Theorem|Lemma) ' "$f.v"; done | awk '{s += $1} END {print s}')
echo "coq: $lemmas lemmas and theorems in $(echo $FILES | wc -w) files proved; $n main theorems use only the reals library's axioms ($(tr '\n' ' ' < allowed.txt))"
