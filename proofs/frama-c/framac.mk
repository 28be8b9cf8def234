# proofs/frama-c/framac.mk: the one Frama-C rule every proof folder uses. A folder's Makefile
# names exactly the sources under proof (PROOF_SRCS, relative to the repository root), the
# functions WP proves (PROOF_FUNCS), then includes this file; `make -C proofs/frama-c/NAME`
# runs it. WP with -wp-rte: every memory access, integer overflow, division and shift gets a
# goal, and the contracts' own goals; z3 and cvc4 through why3. An unproved goal is an error
# (-report-unclassified-unknown ERROR), so the run fails. The log goes to build/proofs/NAME.log.
#
#   PROOF_TIMEOUT  seconds per goal per prover (default 30; the proved goals take well under 5)
#   PROOF_EXTRA    extra frama-c options of one folder (e.g. -warn-special-float none)
#   PROOF_ROOT     where the sources are read from (default: the repository root; the tests point
#                  it at a copy with a planted bug, tests/proofs.sh)

ROOT          := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)
PROOF_ROOT    ?= $(ROOT)
PROOF_NAME    ?= $(notdir $(CURDIR))
PROOF_TIMEOUT ?= 30
PROOF_JOBS    ?= 2
PROOF_LOG     ?= $(ROOT)/build/proofs/$(PROOF_NAME).log
FRAMAC        ?= frama-c

comma := ,
empty :=
space := $(empty) $(empty)

.PHONY: prove
prove:
	@mkdir -p $(dir $(PROOF_LOG))
	@test -f $(HOME)/.why3.conf || why3 config detect >/dev/null
	@echo "frama-c $(PROOF_NAME): $(PROOF_FUNCS)"
	@start=$$(date +%s); cd $(dir $(PROOF_LOG)) && $(FRAMAC) -no-autoload-plugins -load-module wp,report \
	    -cpp-extra-args="-I$(PROOF_ROOT)/include -I$(PROOF_ROOT)/common" \
	    $(addprefix $(PROOF_ROOT)/,$(PROOF_SRCS)) \
	    -wp -wp-rte -wp-prover z3,cvc4 -wp-timeout $(PROOF_TIMEOUT) -wp-par $(PROOF_JOBS) \
	    -wp-fct $(subst $(space),$(comma),$(strip $(PROOF_FUNCS))) $(PROOF_EXTRA) \
	    -then -report-classify -report-unclassified-unknown ERROR > $(PROOF_LOG) 2>&1; \
	  rc=$$?; grep -E '^\[wp\] Proved goals|^  (Qed|Z3|CVC4)' $(PROOF_LOG) | sed 's/^/  /'; \
	  if [ $$rc -ne 0 ]; then grep -E 'Failed|ERROR|Error' $(PROOF_LOG) | head -20; \
	    echo "frama-c $(PROOF_NAME): FAILED (log: $(PROOF_LOG))"; exit 1; fi; \
	  echo "frama-c $(PROOF_NAME): every goal proved in $$(( $$(date +%s) - start )) s"
