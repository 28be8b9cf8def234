# proofs/proofs.mk: `make proofs` (part of `make test`; docs/proofs.md says what each proves).
#
#   proofs-coq     the Coq theorems (proofs/coq): compiled, no admitted goal, no axiom beyond the
#                  standard reals library's (proofs/coq/check.sh)
#   proofs-framac  every Frama-C WP proof under proofs/frama-c/*/ (one folder a proof, its
#                  Makefile naming the sources and functions; proofs/frama-c/framac.mk runs it):
#                  every goal proved by Qed, z3 or cvc4, or the target fails
#   proofs-float   the float32 merge against its derived error bound, 10 million random merges
#                  (proofs/float/merge_bound.c)
# tests/proofs.sh shows each of them fails on a planted error.

PROOF_PACKAGES := coq frama-c-base why3 z3 cvc4
FRAMAC_PROOFS  := $(sort $(patsubst proofs/frama-c/%/Makefile,%,$(wildcard proofs/frama-c/*/Makefile)))

.PHONY: proofs proofs-coq proofs-framac proofs-float

proofs: deps
	$(MAKE) proofs-coq proofs-float proofs-framac

proofs-coq:
	proofs/coq/check.sh proofs/coq $(BUILD)/proofs/coq

proofs-framac:
	@set -e; start=$$(date +%s); for p in $(FRAMAC_PROOFS); do $(MAKE) -s -C proofs/frama-c/$$p prove; done; \
	echo "frama-c: $(words $(FRAMAC_PROOFS)) proofs ($(FRAMAC_PROOFS)) passed in $$(( $$(date +%s) - start )) s"

$(BUILD)/proofs/merge_bound: proofs/float/merge_bound.c $(BUILD)/libdeft.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libdeft.a $(LDFLAGS) $(LDLIBS)

proofs-float: $(BUILD)/proofs/merge_bound
	$(BUILD)/proofs/merge_bound 10000000
