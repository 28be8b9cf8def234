# deft: exact tree attention and DeFT.  `make demo` and `make test` do all set-up on a fresh
# Debian 12 machine (missing packages are installed with apt-get).
#
# Targets: all, test, demo, bench, install, clean (see README.md).
# Switches: SAN=address,undefined (sanitized build in build-san/), NO_CUDA=1, PREFIX=/usr/local.

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

# Debian packages the build, the tests and the tools need.
PACKAGES  := gcc make pkg-config check libsubunit-dev libopenblas-openmp-dev python3-numpy

LIB_SRC   := $(wildcard common/*.c ref/*.c cpu/*.c lib/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC  := $(wildcard tools/*.c)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(wildcard tests/*.c)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: mutants all deps test check-unit check-san demo bench install clean

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

$(BUILD)/libdeft.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libdeft.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/deft: $(TOOL_OBJ) $(BUILD)/libdeft.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libdeft.a $(LDLIBS)

$(BUILD)/test_deft: $(TEST_OBJ) $(BUILD)/libdeft.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libdeft.a $(LDLIBS) $(shell pkg-config --libs check)

# The Check suites, then the same suites under AddressSanitizer and UBSan, then the command-line
# checks of tests/cli.sh.
test: deps
	$(MAKE) check-unit
	$(MAKE) check-unit SAN=address,undefined
	$(MAKE) $(BUILD)/deft
	tests/cli.sh $(BUILD)/deft
	$(MAKE) mutants $(BUILD)/libdeft.so
	tests/plugins.sh $(BUILD)

# Planted-bug kernels, one plugin per bug (tests/mutants/mutant.c), and the correct control.
MUTANTS   := correct causal_off_by_one skipped_ancestor chunk_twice gqa_wrong lse_base2 \
             max_starts_at_zero dropped_scale empty_node_nan nondeterministic_order unwritten_element \
             shuffled_order
mutants: $(MUTANTS:%=$(BUILD)/mutants/%.so)

$(BUILD)/mutants/%.so: tests/mutants/mutant.c include/deft.h
	@mkdir -p $(dir $@)
	$(CC) -std=c99 -O2 -fPIC -shared -Wall -Wextra -Werror -Iinclude \
	    -DBUG_$(shell echo $* | tr a-z A-Z) -DMUTANT_NAME='"$*"' $< -o $@ -lm

check-unit: $(BUILD)/test_deft
	CK_DEFAULT_TIMEOUT=600 $(BUILD)/test_deft

demo: all
	$(BUILD)/deft demo

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/deft.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libdeft.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libdeft.so $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/deft $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' deft.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/deft.pc

clean:
	rm -rf build build-san
