# proofs/proofs.mk: `make proofs` (part of `make test`; docs/proofs.md says what each proves).
#
#   proofs-coq     the Coq theorems (proofs/coq): compiled, no admitted goal, no axiom beyond the
#                  standard reals library's (proofs/coq/check.sh)
#   proofs-framac  every Frama-C WP proof under proofs/frama-c/*/ (one folder a proof, its
#                  Makefile naming the sources and functions; proofs/frama-c/framac.mk runs it):
#                  every goal proved by Qed, z3 or cvc4, or the target fails
#   proofs-float   the float32 merge against its derived error bound, 10 million random merges
#                  (proofs/float/merge_bound.c)
# tests/proofs.sh shows each of them fails on a planted error; `make proofs-checked` (part of
# `make test`) runs the proofs and those planted-error checks, two jobs at a time.

PROOF_PACKAGES := coq frama-c-base why3 z3 cvc4
FRAMAC_PROOFS  := $(sort $(patsubst proofs/frama-c/%/Makefile,%,$(wildcard proofs/frama-c/*/Makefile)))

.PHONY: proofs proofs-checked proofs-coq proofs-framac proofs-float why3-conf

# Two jobs at a time, the longest (the plan builder's Frama-C proof, ~7 min) first: WP's own work
# (parsing, goal generation, Qed) and coqc each run on one core, so one job alone leaves the
# second core idle for much of its run. Each job's lines are printed together when it ends.
PROOF_POOL  := $(MAKE) -s -j2 --output-sync=target
FRAMAC_JOBS := proofs-framac-plan $(filter-out proofs-framac-plan,$(FRAMAC_PROOFS:%=proofs-framac-%))
PROOF_ALL   := $(FRAMAC_JOBS) proofs-coq proofs-float
proofs: deps why3-conf
	@set -e; start=$$(date +%s); $(PROOF_POOL) $(PROOF_ALL); \
	echo "proofs: Coq, float and $(words $(FRAMAC_PROOFS)) Frama-C proofs passed in $$(( $$(date +%s) - start )) s"

# The planted errors join the pool last: the Coq ones only compile, and the C ones' narrow runs
# (tests/proofs.sh) allow 20 s a goal, several times what their goals take beside the plan proof's
# provers (2-3 s on an idle machine), so they run in the second slot while the plan proof ends.
proofs-checked: deps why3-conf
	@set -e; start=$$(date +%s); $(PROOF_POOL) $(PROOF_ALL) proofs-planted-coq proofs-planted-c; \
	echo "proofs: Coq, float and $(words $(FRAMAC_PROOFS)) Frama-C proofs passed, and each failed on its planted errors, in $$(( $$(date +%s) - start )) s"

# why3's prover list, written once before any job runs (two jobs writing it at once could clash)
why3-conf:
	@test -f $(HOME)/.why3.conf || why3 config detect >/dev/null

proofs-planted-c: $(BUILD)/proofs/merge_bound
	tests/proofs.sh $(BUILD) c

proofs-planted-coq:
	tests/proofs.sh $(BUILD) coq

proofs-coq:
	proofs/coq/check.sh proofs/coq $(BUILD)/proofs/coq

# The Frama-C proofs alone, two folders at a time as above.
proofs-framac: why3-conf
	@set -e; start=$$(date +%s); $(PROOF_POOL) $(FRAMAC_JOBS); \
	echo "frama-c: $(words $(FRAMAC_PROOFS)) proofs ($(FRAMAC_PROOFS)) passed in $$(( $$(date +%s) - start )) s"

proofs-framac-%:
	@$(MAKE) -s -C proofs/frama-c/$* prove

$(BUILD)/proofs/merge_bound: proofs/float/merge_bound.c $(BUILD)/libdeft.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libdeft.a $(LDFLAGS) $(LDLIBS)

proofs-float: $(BUILD)/proofs/merge_bound
	$(BUILD)/proofs/merge_bound 10000000
