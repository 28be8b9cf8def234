# fuzz/fuzz.mk: the AFL++ harnesses (fuzz/README.md). Included by the top-level Makefile, and
# usable alone: make -f fuzz/fuzz.mk fuzz-smoke.
#
#   fuzz          each harness under afl-fuzz for FUZZ_SECONDS (600), FUZZ_JOBS at once (1);
#                 results in build/fuzz/out/<harness>; fails if anything was saved
#   fuzz-smoke    builds every harness, replays the corpora (fuzz/corpus, fuzz/regress) as
#                 regression tests, runs the harnesses FUZZ_SMOKE_SECONDS (20), all at once (FUZZ_SMOKE_JOBS,
#                 3: the smoke is about crashes, not coverage), fails if any crash,
#                 mismatch or hang was saved (part of `make test`)
#   fuzz-mutants  the differential harness must catch each planted-bug plugin in build/mutants/
#                 within FUZZ_MUTANT_SECONDS (30), and the controls (`correct`, cpu, cpu-seq) must survive
#                 as long
#   fuzz-corpus   regenerates the seed corpora in fuzz/corpus with build/fuzz/gen_corpus
#   fuzz-build    the harnesses, their replay builds, tocase and gen_corpus
#
# Everything builds into build/fuzz/ from the sources, with afl-clang-fast, ASan and UBSan. The
# library is compiled without -fopenmp (its '#pragma omp' lines are ignored: single-threaded), so
# clang brings no second OpenMP runtime. The omp_* calls the CPU paths make go to libgomp, which
# the OpenMP build of OpenBLAS needs anyway; with OMP_NUM_THREADS=1 it starts no threads.

FUZZ_PACKAGES      := afl++ clang libclang-rt-14-dev
FUZZ_BUILD         ?= build/fuzz
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_MUTANT_SECONDS ?= 30
FUZZ_JOBS          ?= 1
FUZZ_SMOKE_JOBS    ?= 3
FUZZ_AFL_CC        ?= afl-clang-fast
FUZZ_CC            ?= clang
FUZZ_HARNESSES     := parsers plan differential

FUZZ_SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   := -std=c99 -D_POSIX_C_SOURCE=200809L -O1 -g -Wall -Wextra -Iinclude -Icommon -Igpu -Ifuzz \
                 $(FUZZ_SANFLAGS)
# Library sources are held to -Werror by the gcc build; under clang without OpenMP the variables
# that only feed num_threads() clauses are unused.
FUZZ_LIBFLAGS := -Wno-unused-variable -Wno-unused-but-set-variable -Wno-unknown-pragmas
FUZZ_LDLIBS   := -lopenblas -lgomp -lm -ldl

# No CUDA here: the GPU entries come from gpu/stub.c (they answer DEFT_ERR_DEVICE, which the
# differential harness treats as "declines"), as in a NO_CUDA=1 build.
FUZZ_LIB_SRC  := $(wildcard common/*.c ref/*.c cpu/*.c lib/*.c gpu/gpu_common.c gpu/stub.c)
FUZZ_LIB_OBJ  := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_HEADERS  := include/deft.h $(wildcard common/*.h ref/*.h cpu/*.h lib/*.h gpu/*.h fuzz/*.h)
FUZZ_COMMON   := $(FUZZ_BUILD)/obj/fuzz/decode.o $(FUZZ_LIB_OBJ)
# The parsers harness also gets a CmpLog build (afl-fuzz -c): it hands the fuzzer the operands of
# the parsers' comparisons (magic strings, declared lengths), which random mutation rarely hits.
FUZZ_CMPLOG_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/cmplog/%.o,$(FUZZ_LIB_SRC) fuzz/parsers.c fuzz/driver.c)
FUZZ_BINS     := $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/fuzz_%) $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/replay_%) \
                 $(FUZZ_BUILD)/fuzz_parsers.cmplog $(FUZZ_BUILD)/tocase $(FUZZ_BUILD)/gen_corpus
FUZZ_AFL      = AFL_QUIET=1 $(FUZZ_AFL_CC)

.PHONY: fuzz fuzz-smoke fuzz-mutants fuzz-corpus fuzz-build fuzz-deps

fuzz-build: $(FUZZ_BINS)

# Installs whatever of FUZZ_PACKAGES is missing (as the top-level deps target does).
fuzz-deps:
	@missing=""; for p in $(FUZZ_PACKAGES) libopenblas-openmp-dev; do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Everything instrumented for AFL++ (outside afl-fuzz the instrumentation is inert), except the
# replay flavour of the driver, compiled with plain clang so it gets the replay main().
$(FUZZ_BUILD)/obj/%.o: %.c $(FUZZ_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_AFL) $(FUZZ_CFLAGS) $(if $(filter fuzz/%,$<),-Werror,$(FUZZ_LIBFLAGS)) -c $< -o $@

$(FUZZ_BUILD)/cmplog/%.o: %.c $(FUZZ_HEADERS)
	@mkdir -p $(dir $@)
	AFL_LLVM_CMPLOG=1 $(FUZZ_AFL) $(FUZZ_CFLAGS) $(if $(filter fuzz/%,$<),-Werror,$(FUZZ_LIBFLAGS)) -c $< -o $@

$(FUZZ_BUILD)/fuzz_parsers.cmplog: $(FUZZ_CMPLOG_OBJ)
	AFL_LLVM_CMPLOG=1 $(FUZZ_AFL) $(FUZZ_SANFLAGS) -o $@ $^ $(FUZZ_LDLIBS)

$(FUZZ_BUILD)/obj/fuzz/driver-replay.o: fuzz/driver.c $(FUZZ_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/fuzz/%.o $(FUZZ_BUILD)/obj/fuzz/driver.o $(FUZZ_COMMON)
	$(FUZZ_AFL) $(FUZZ_SANFLAGS) -o $@ $^ $(FUZZ_LDLIBS)

$(FUZZ_BUILD)/replay_%: $(FUZZ_BUILD)/obj/fuzz/%.o $(FUZZ_BUILD)/obj/fuzz/driver-replay.o $(FUZZ_COMMON)
	$(FUZZ_AFL) $(FUZZ_SANFLAGS) -o $@ $^ $(FUZZ_LDLIBS)

$(FUZZ_BUILD)/tocase: $(FUZZ_BUILD)/obj/fuzz/tocase.o $(FUZZ_COMMON)
	$(FUZZ_AFL) $(FUZZ_SANFLAGS) -o $@ $^ $(FUZZ_LDLIBS)

$(FUZZ_BUILD)/gen_corpus: $(FUZZ_BUILD)/obj/fuzz/gen_corpus.o $(FUZZ_LIB_OBJ)
	$(FUZZ_AFL) $(FUZZ_SANFLAGS) -o $@ $^ $(FUZZ_LDLIBS)

fuzz-smoke: fuzz-build
	@start=$$(date +%s); \
	fuzz/replay.sh $(FUZZ_HARNESSES); replayed=$$?; \
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_JOBS=$(FUZZ_SMOKE_JOBS) \
	    fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_BUILD)/smoke $(FUZZ_HARNESSES); fuzzed=$$?; \
	rc=$$((replayed | fuzzed)); \
	echo "fuzz-smoke: $$([ $$rc = 0 ] && echo passed || echo FAILED) in $$(( $$(date +%s) - start )) s"; \
	exit $$rc

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_JOBS=$(FUZZ_JOBS) fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BUILD)/out $(FUZZ_HARNESSES)

# The including Makefile names what builds build/mutants/*.so and build/deft (for the reproduce
# step), e.g. FUZZ_MUTANT_DEPS := mutants build/deft
FUZZ_MUTANT_DEPS ?=
fuzz-mutants: fuzz-build $(FUZZ_MUTANT_DEPS)
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_MUTANT_SECONDS=$(FUZZ_MUTANT_SECONDS) fuzz/mutants.sh

fuzz-corpus: $(FUZZ_BUILD)/gen_corpus
	rm -rf fuzz/corpus
	ASAN_OPTIONS=detect_leaks=1 $(FUZZ_BUILD)/gen_corpus fuzz/corpus
	@du -sh fuzz/corpus

# The harness objects are reached only through pattern rules: keep them between builds.
.SECONDARY: $(patsubst %,$(FUZZ_BUILD)/obj/fuzz/%.o,$(FUZZ_HARNESSES) driver driver-replay decode)
