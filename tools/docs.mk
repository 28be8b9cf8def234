# docs.mk: `make docs`, the pictures of docs/algorithm.md. `deft explain --dot` draws a few trees
# (groups and chunks, and one query's reduction) and Graphviz renders each to docs/img/NAME.svg
# and docs/img/NAME.png, ready to commit. Included by the Makefile (after BUILD is set).
#
#   make docs      installs DOCS_PACKAGES if missing (through the Makefile's deps), then renders
#                  whatever picture is older than build/deft

DOCS_PACKAGES := graphviz
DOCS_IMG      := docs/img
DOT           ?= dot

# Each picture: its name and the `deft explain` arguments that draw it.
DOCS_PICTURES     := tiny fewshot tot specdec
DOCS_ARGS_tiny    := --tiny
DOCS_ARGS_fewshot := --workload fewshot
DOCS_ARGS_tot     := --workload tot
DOCS_ARGS_specdec := --workload specdec --query 40

DOCS_OUT := $(foreach p,$(DOCS_PICTURES),$(DOCS_IMG)/$(p).svg $(DOCS_IMG)/$(p).png)

.PHONY: docs docs-deps
docs: $(DOCS_OUT)

# The Makefile's deps, for Graphviz alone.
docs-deps:
	@$(MAKE) --no-print-directory deps PACKAGES="$(DOCS_PACKAGES)"

$(BUILD)/docs/%.dot: $(BUILD)/deft
	@mkdir -p $(dir $@)
	$(BUILD)/deft explain $(DOCS_ARGS_$*) --dot $@ > /dev/null

$(DOCS_IMG)/%.svg: $(BUILD)/docs/%.dot | docs-deps
	@mkdir -p $(dir $@)
	$(DOT) -Tsvg $< -o $@

$(DOCS_IMG)/%.png: $(BUILD)/docs/%.dot | docs-deps
	@mkdir -p $(dir $@)
	$(DOT) -Tpng $< -o $@

# Keep the .dot files: they are small, and useful to read.
.PRECIOUS: $(BUILD)/docs/%.dot
