# deft: exact tree attention and DeFT.  `make demo` and `make test` do all set-up on a fresh
# Debian 12 machine (missing packages are installed with apt-get).
#
# Targets: all, test, demo, bench, install, clean, docs, proofs, fuzz, fuzz-smoke, fuzz-mutants,
# mutants (see README.md).
# Switches: SAN=address,undefined (sanitized build in build-san/), NO_CUDA=1, PREFIX=/usr/local.
# GPU: gpu-test and gpu-bench run on a machine with an NVIDIA GPU (sm_90); gpu/ builds anywhere.

PREFIX    ?= /usr/local
CC        := gcc
BUILD     := build
ifneq ($(SAN),)
BUILD     := build-san
SANFLAGS  := -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

CFLAGS    := -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -g -fopenmp -fPIC \
             -Wall -Wextra -Werror -Iinclude -Icommon $(SANFLAGS)
LDLIBS    := -lopenblas -lm -ldl
LDFLAGS   := -fopenmp $(SANFLAGS)

# Debian packages the build, the tests and the tools need (fuzzers and pictures included).
.DEFAULT_GOAL := all
include fuzz/fuzz.mk
include tools/docs.mk
include proofs/proofs.mk
PACKAGES  := gcc make pkg-config check libsubunit-dev libopenblas-openmp-dev python3-numpy \
             $(FUZZ_PACKAGES) $(DOCS_PACKAGES) $(PROOF_PACKAGES)
FUZZ_MUTANT_DEPS := mutants $(BUILD)/deft

# CUDA (gpu/): nvcc compiles the kernels on any machine, with a GPU or not; NO_CUDA=1 builds
# gpu/stub.c instead (every GPU entry answers DEFT_ERR_DEVICE). The CUDA objects carry no
# sanitizers, so the sanitized build links the plain build's (CUDA_BUILD): nvcc runs once.
CUDA_BUILD := $(if $(SAN),$(patsubst %-san,%,$(BUILD)),$(BUILD))
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
SANITIZER ?= $(CUDA_HOME)/bin/compute-sanitizer
NVARCH    := -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90
NVFLAGS   := -O3 -lineinfo -std=c++17 -Iinclude -Icommon -Igpu -Xcompiler -fPIC,-Wall,-Wextra,-Werror \
             $(NVFLAGS_EXTRA)
# gpu/deft_gpu.cu's large-item kernel uses wgmma, which only the sm_90a target has: its machine
# code is built for sm_90a (H100, H200), and its PTX for compute_90 (other GPUs compile that at
# start, and it takes the mma.sync path).
$(CUDA_BUILD)/gpu/deft_gpu.o: NVARCH := -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90
# NVFLAGS_EXTRA: measurement builds, e.g. -DDEFT_GPU_TRACE (gpu/gpu_internal.h) or -DDEFT_GPU_WARPS=12
# Without nvcc (CUDA is preinstalled at /usr/local/cuda on the project's machines, but Debian
# does not package CUDA 13), build as NO_CUDA=1 rather than fail.
ifeq ($(NO_CUDA),)
ifeq ($(shell command -v $(NVCC) 2>/dev/null),)
$(info deft: no nvcc at $(NVCC): building without CUDA, as with NO_CUDA=1)
NO_CUDA   := 1
endif
endif
ifeq ($(NO_CUDA),)
GPU_C     := gpu/gpu_common.c
GPU_OBJ   := $(patsubst %.cu,$(CUDA_BUILD)/%.o,gpu/gpu_host.cu gpu/deft_gpu_simple.cu gpu/deft_gpu.cu)
LDLIBS    += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lstdc++
GPU_TEST_CFLAGS := -I$(CUDA_HOME)/include
else
GPU_C     := gpu/gpu_common.c gpu/stub.c
GPU_TEST_CFLAGS := -DDEFT_NO_CUDA
endif

LIB_SRC   := $(wildcard common/*.c ref/*.c cpu/*.c lib/*.c) $(GPU_C)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o) $(GPU_OBJ)
TOOL_SRC  := $(wildcard tools/*.c)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(filter-out tests/test_gpu.c,$(wildcard tests/*.c))
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: mutants all deps test check-unit check-san demo bench install clean gpu-test gpu-bench

all: deps $(BUILD)/libdeft.a $(BUILD)/libdeft.so $(BUILD)/deft

# Installs whatever of PACKAGES is missing (root on Debian 12; a no-op once installed).
deps:
	@missing=""; for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/%.o: %.c include/deft.h $(wildcard common/*.h ref/*.h cpu/*.h tools/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(if $(filter tests/%,$<),$(shell pkg-config --cflags check)) -c $< -o $@

$(BUILD)/gpu/%.o: gpu/%.c include/deft.h common/internal.h $(wildcard gpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(CUDA_BUILD)/gpu/%.o: gpu/%.cu include/deft.h common/internal.h $(wildcard gpu/*.h)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVARCH) $(NVFLAGS) -c $< -o $@

$(BUILD)/libdeft.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libdeft.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/deft: $(TOOL_OBJ) $(BUILD)/libdeft.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libdeft.a $(LDLIBS)

$(BUILD)/test_deft: $(TEST_OBJ) $(BUILD)/libdeft.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libdeft.a $(LDLIBS) $(shell pkg-config --libs check)

# The Check suites, then the same suites under AddressSanitizer and UBSan; the command-line tests
# (cli.sh), `deft explain` against its golden files and the docs' links (explain.sh), kernels as
# plugins and the planted-bug mutants (plugins.sh), an installed copy linked through pkg-config
# (install.sh); the quick GPU tests ("GPU tests: skipped: <reason>" without a GPU); every fuzz
# harness briefly plus the corpora replayed, and the differential fuzzer against the mutants;
# the proofs (Coq, Frama-C, the float bound), and that each of them fails on a planted error.
# The builds run two jobs at a time (the machines have 2 cores); the tests themselves one by one.
test: deps
	$(MAKE) -j2 check-unit
	$(MAKE) -j2 check-unit SAN=address,undefined
	$(MAKE) -j2 $(BUILD)/deft
	tests/cli.sh $(BUILD)/deft
	tests/explain.sh $(BUILD)
	$(MAKE) -j2 mutants $(BUILD)/libdeft.so
	tests/plugins.sh $(BUILD)
	tests/install.sh
	$(MAKE) -j2 $(BUILD)/test_gpu
	$(BUILD)/test_gpu --quick
	$(MAKE) fuzz-smoke
	$(MAKE) fuzz-mutants
	$(MAKE) proofs-checked

# GPU tests (tests/test_gpu.c): a standalone program, not a Check suite.
$(BUILD)/tests/test_gpu.o: CFLAGS += $(GPU_TEST_CFLAGS)
$(BUILD)/tests/test_gpu.o: gpu/gpu.h

$(BUILD)/test_gpu: $(BUILD)/tests/test_gpu.o $(BUILD)/libdeft.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libdeft.a $(LDLIBS)

$(BUILD)/bench_gpu: $(BUILD)/gpu/bench_gpu.o $(BUILD)/libdeft.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libdeft.a $(LDLIBS)

# On a machine with a GPU: the whole GPU test set, then memcheck and racecheck on a subset.
gpu-test: deps $(BUILD)/test_gpu
	$(BUILD)/test_gpu
	$(SANITIZER) --tool memcheck --error-exitcode 1 $(BUILD)/test_gpu --sanitize
	$(SANITIZER) --tool racecheck --racecheck-report all --error-exitcode 1 $(BUILD)/test_gpu --sanitize

# On a machine with a GPU: deft's kernels, then PyTorch's on the same trees (docs/performance.md).
gpu-bench: deps $(BUILD)/bench_gpu
	$(BUILD)/bench_gpu --csv $(BUILD)/gpu_bench.csv
	python3 gpu/bench_torch.py --deft $(BUILD)/gpu_bench.csv

# Planted-bug kernels, one plugin per bug (tests/mutants/mutant.c), and the correct control.
MUTANTS   := correct causal_off_by_one skipped_ancestor chunk_twice gqa_wrong lse_base2 \
             max_starts_at_zero dropped_scale empty_node_nan nondeterministic_order unwritten_element \
             shuffled_order
mutants: $(MUTANTS:%=$(BUILD)/mutants/%.so)

$(BUILD)/mutants/%.so: tests/mutants/mutant.c include/deft.h
	@mkdir -p $(dir $@)
	$(CC) -std=c99 -O2 -fPIC -shared -Wall -Wextra -Werror -Iinclude \
	    -DBUG_$(shell echo $* | tr a-z A-Z) -DMUTANT_NAME='"$*"' $< -o $@ -lm

# The cpu suite (half the time under the sanitizers) runs beside the others, one per core; its
# output follows theirs, and either one failing fails the target.
check-unit: $(BUILD)/test_deft
	CK_DEFAULT_TIMEOUT=600 $(BUILD)/test_deft cpu > $(BUILD)/unit-cpu.log 2>&1 & cpu=$$!; \
	CK_DEFAULT_TIMEOUT=600 $(BUILD)/test_deft rest; rest=$$?; \
	wait $$cpu; c=$$?; cat $(BUILD)/unit-cpu.log; test $$rest -eq 0 && test $$c -eq 0

demo: all
	$(BUILD)/deft demo

# The CPU benchmark of docs/performance.md: DeFT against the sequence-based baseline, with the
# memory-copy and sgemm probes of the same run (a benchmark, never part of `make test`).
bench: all
	$(BUILD)/deft bench --impl cpu,cpu-seq --workload tot,fewshot50,wide

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/deft.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libdeft.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libdeft.so $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/deft $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBS_PRIVATE@|$(LDLIBS) -fopenmp|' deft.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/deft.pc

clean:
	rm -rf build build-san
