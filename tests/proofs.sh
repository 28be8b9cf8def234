#!/bin/sh
# proofs.sh: every proof of `make proofs` fails on a planted error, so a passing `make proofs`
# means something. Each case copies the sources, plants one error, and runs the same check that
# `make proofs` runs on the real ones:
#   Coq        a broken lemma does not compile; an Admitted, an Axiom, or a main theorem that
#              comes to rest on an axiom outside the reals library is refused by check.sh;
#   Frama-C    a contract the code violates leaves a goal unproved (validator, plan builder, its
#              chunk records and its counting stage, merge);
#   float      a merge with the textbook overflow slip exceeds the derived error bound.
# Usage: tests/proofs.sh BUILD_DIR [coq|c]: both parts, or one (`make proofs-checked` runs both
# beside the proofs themselves, last). The narrow Frama-C runs allow 20 s a goal: their true-source
# goals take 2-3 s on an idle machine, and they run beside the plan proof's provers.
set -u
B=${1:?usage: proofs.sh BUILD_DIR [coq|c]}
part=${2:-all}
case $part in all | coq | c) ;; *) echo "proofs.sh: unknown part '$part' (coq or c)"; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/lib.sh"

# plant FILE SED: a fresh copy of the Coq sources in $dir/coq with SED applied to FILE; fails
# the test (and says so) if the expression changed nothing, so a stale pattern cannot pass.
plant_coq() {
    rm -rf "$dir/coq" && cp -r "$root/proofs/coq" "$dir/coq"
    sed -i "$2" "$dir/coq/$1"
    if cmp -s "$root/proofs/coq/$1" "$dir/coq/$1"; then bad "planting '$2' in $1 changed nothing"; return 1; fi
}
coq() { "$root/proofs/coq/check.sh" "$dir/coq" "$dir/coq-out"; }

if [ "$part" != c ]; then
expect 0 "the real Coq proofs pass" "main theorems use only" -- sh -c "cp -r '$root/proofs/coq' '$dir/coq' && '$root/proofs/coq/check.sh' '$dir/coq' '$dir/coq-out'"
# merge_comm claims merge a b = merge a a: false, so its proof fails
plant_coq Merge.v 's/st_eq (merge a b) (merge b a)\./st_eq (merge a b) (merge a a)./' &&
    expect 1 "a false lemma in Merge.v" "does not compile" -- coq
plant_coq Plan.v '0,/^Qed\./s//Admitted./' &&
    expect 1 "an Admitted in Plan.v" "admits or assumes" -- coq
plant_coq Forest.v '$a Axiom anything : forall P : Prop, P.' &&
    expect 1 "an Axiom in Forest.v" "admits or assumes" -- coq
# a main theorem whose proof term now mentions proof irrelevance, an axiom the reals do not use
plant_coq Plan.v 's/^Require Import Deft.Merge Deft.Forest\./Require Import Deft.Merge Deft.Forest ProofIrrelevance./; /^Theorem split_even/,/^Qed/s/^Proof\./Proof. pose proof proof_irrelevance as PI./' &&
    expect 1 "a main theorem resting on proof irrelevance" "beyond the reals library" -- coq
fi

# copy_c: a fresh copy of include/ and common/ in $dir/c; plant_c FILE SED: the same with SED
# applied to FILE.
copy_c() { rm -rf "$dir/c" && mkdir -p "$dir/c" && cp -r "$root/include" "$root/common" "$dir/c/"; }
plant_c() {
    copy_c
    sed -i "$2" "$dir/c/common/$1"
    if cmp -s "$root/common/$1" "$dir/c/common/$1"; then bad "planting '$2' in $1 changed nothing"; return 1; fi
}
# framac PROOF ARGS...: one Frama-C proof folder, on the copy, its log in $dir (make exits 2 when
# a goal is left unproved).
framac() {
    p=$1; shift
    make -s -C "$root/proofs/frama-c/$p" prove PROOF_ROOT="$dir/c" PROOF_LOG="$dir/$p.log" "$@"
}
# bite PROOF WHAT FILE SED ARGS...: the narrow run ARGS of PROOF passes on the true sources and
# fails (a goal left unproved) with SED planted in FILE, so it is the planted error that fails it.
bite() {
    b_proof=$1 b_what=$2 b_file=$3 b_sed=$4
    shift 4
    copy_c
    expect 0 "$b_proof, narrow run, true sources (for: $b_what)" "frama-c $b_proof" -- framac "$b_proof" "$@"
    plant_c "$b_file" "$b_sed" && expect 2 "$b_what" "FAILED" -- framac "$b_proof" "$@"
}

if [ "$part" != coq ]; then
# The validator: the parent check admits a node as its own parent (p > i for p >= i), which the
# loop invariant nodes_before (every node so far names an earlier parent) no longer survives. The
# same narrow run on the true sources passes, so it is the planted bug that fails it.
VALIDATE_NARROW="PROOF_FUNCS=check_nodes PROOF_TIMEOUT=20 PROOF_EXTRA=-wp-prop=nodes_before"
bite validate "validator that lets a node be its own parent" validate.c \
    's/(p >= i)/(p > i)/' \
    $VALIDATE_NARROW

# The plan builder: fill_one's full-chunk test lets the fill cursor reach the end of its chunk's
# pair range (f > size for f >= size), so the pair is written one past it, into the next chunk's
# pairs or past the pair arrays; fill_one's accesses, its cursor bound and its assertion
# `unfilled` (the slot written is one no chunk has filled) are no longer proved. The narrow run
# proves `unfilled` alone (the whole function's goals took 26 s, and 64 s to fail ten of them).
# (The narrow plan runs skip the cvc4-only first pass: a goal a planted bug breaks would fail in
# both passes, twice the time, to show what one pass shows.)
PLAN_NARROW="PROOF_FUNCS=fill_one PROOF_TIMEOUT=20 PROOF_FIRST= PROOF_EXTRA=-wp-prop=unfilled"
bite plan "a plan builder whose fill cursor passes its chunk's pairs" plan.c \
    's/if (f >= end - first) return 1;/if (f > end - first) return 1;/' \
    $PLAN_NARROW

# The plan's chunk records: every query slice starts one pair late (first + start + 1), so a chunk's
# first pair belongs to no chunk and pair_start no longer starts at 0 nor where the chunk before it
# ends (CHUNKED, part of plan_ok); done_step's precondition and emit_slices' invariant fail. The
# narrow run proves emit_slices' call preconditions (@requires: 15 goals) and fails on done_step's.
CHUNKS_NARROW="PROOF_FUNCS=emit_slices PROOF_TIMEOUT=20 PROOF_FIRST= PROOF_EXTRA=-wp-prop=@requires"
bite plan "a plan whose query slices start one pair late" plan.c \
    's/put_chunk(c, u, a, row, len, first + start, /put_chunk(c, u, a, row, len, first + start + 1, /' \
    $CHUNKS_NARROW

# The builder's counting stage: count_links' two outputs passed the wrong way round (up for anc_tc,
# anc_tc for up). count_all's contract passes on to the fill the links count_links delivers
# (linked); with the arrays swapped they are not what it claims, and linked is no longer proved.
STAGE_NARROW="PROOF_FUNCS=count_all PROOF_TIMEOUT=20 PROOF_FIRST= PROOF_EXTRA=-wp-prop=linked"
bite plan "a counting stage that swaps count_links' outputs" plan.c \
    's/count_links(n, parent, kv_len, n_tc, anc_tc, up)/count_links(n, parent, kv_len, n_tc, up, anc_tc)/' \
    $STAGE_NARROW

# The merge: the merged LSE m + ln s computed as m - ln s. add_ln's postcondition (the merged LSE
# is at least the larger side's, which deft_merge's "both" behaviour passes on) no longer holds.
MERGE_NARROW="PROOF_FUNCS=add_ln_f32 PROOF_TIMEOUT=20"
bite merge "a merge whose LSE subtracts ln s" merge.c \
    's/return m + ln_s;/return m - ln_s;/' \
    $MERGE_NARROW

expect 1 "a merge with the overflow slip exceeds the float bound" "over" -- "$B/proofs/merge_bound" 100000 1 --planted
fi

summary "proofs ($part)"
