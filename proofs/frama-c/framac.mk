# proofs/frama-c/framac.mk: the one Frama-C rule every proof folder uses. A folder's Makefile
# names exactly the sources under proof (PROOF_SRCS, relative to the repository root), the
# functions WP proves (PROOF_FUNCS), then includes this file; `make -C proofs/frama-c/NAME`
# runs it. WP with -wp-rte: every memory access, integer overflow, division and shift gets a
# goal, and the contracts' own goals; z3 and cvc4 through why3. An unproved goal is an error
# (-report-unclassified-unknown ERROR), so the run fails. The log goes to build/proofs/NAME.log.
#
# z3 4.8.12 under why3 now and then ends without an answer when the machine is oversubscribed
# (why3 reports "Failed Unknown error"; the same goal is proved in seconds when run again). A run
# that fails with that report is repeated once, one goal at a time (-wp-par 1); the first log is
# kept as NAME.log.first. A goal that really is unproved fails both runs, so the build fails.
#
#   PROOF_TIMEOUT  seconds per goal per prover (default 30; the proved goals take well under 5)
#   PROOF_FIRST    a prover for a first pass (default: none). With it, every goal goes to that prover
#                  alone, PROOF_FIRST_TIMEOUT seconds (default 10), two goals at a time; a second pass
#                  gives the goals it left to z3 and cvc4 as above. Where one prover proves nearly all
#                  goals, this halves the prover time: z3 and cvc4 racing on every goal keep both cores
#                  busy on one goal.
#   PROOF_EXTRA    extra frama-c options of one folder (e.g. -warn-special-float none)
#   PROOF_ROOT     where the sources are read from (default: the repository root; the tests point
#                  it at a copy with a planted bug, tests/proofs.sh)

ROOT          := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)
PROOF_ROOT    ?= $(ROOT)
PROOF_NAME    ?= $(notdir $(CURDIR))
PROOF_TIMEOUT ?= 30
PROOF_FIRST   ?=
PROOF_FIRST_TIMEOUT ?= 10
PROOF_JOBS    ?= 2
PROOF_LOG     ?= $(ROOT)/build/proofs/$(PROOF_NAME).log
FRAMAC        ?= frama-c

comma := ,
empty :=
space := $(empty) $(empty)
FUNCS := $(subst $(space),$(comma),$(strip $(PROOF_FUNCS)))

.PHONY: prove
prove:
	@mkdir -p $(dir $(PROOF_LOG))
	@test -f $(HOME)/.why3.conf || why3 config detect >/dev/null
	@echo "frama-c $(PROOF_NAME): $(PROOF_FUNCS)"
	@start=$$(date +%s); cd $(dir $(PROOF_LOG)) && \
	  run() { $(FRAMAC) -no-autoload-plugins -load-module wp,report \
	    -cpp-extra-args="-I$(PROOF_ROOT)/include -I$(PROOF_ROOT)/common" \
	    $(addprefix $(PROOF_ROOT)/,$(PROOF_SRCS)) \
	    -wp -wp-rte -wp-par $$1 -wp-fct $(FUNCS) $(PROOF_EXTRA) \
	    $(if $(PROOF_FIRST),-wp-prover $(PROOF_FIRST) -wp-timeout $(PROOF_FIRST_TIMEOUT) -then -wp -wp-fct $(FUNCS)) \
	    -wp-prover z3,cvc4 -wp-timeout $(PROOF_TIMEOUT) \
	    -then -report-classify -report-unclassified-unknown ERROR > $(PROOF_LOG) 2>&1; }; \
	  run $(PROOF_JOBS); rc=$$?; \
	  if [ $$rc -ne 0 ] && grep -q 'Unknown error' $(PROOF_LOG); then \
	    mv $(PROOF_LOG) $(PROOF_LOG).first; \
	    echo "frama-c $(PROOF_NAME): a prover ended without an answer (why3: Unknown error); once more, one goal at a time"; \
	    run 1; rc=$$?; fi; \
	  grep -E '^\[wp\] Proved goals|^  (Qed|Z3|CVC4)' $(PROOF_LOG) | sed 's/^/  /'; \
	  if [ $$rc -ne 0 ]; then grep -E 'Failed|ERROR|Error' $(PROOF_LOG) | head -20; \
	    echo "frama-c $(PROOF_NAME): FAILED (log: $(PROOF_LOG))"; exit 1; fi; \
	  echo "frama-c $(PROOF_NAME): every goal proved in $$(( $$(date +%s) - start )) s"
