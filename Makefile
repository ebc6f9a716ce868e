# Thin wrapper over CMake so that the quick start is two commands:
#   make bench   deps, build, data, the default comparison
#   make check   deps (incl. pymatgen for differential tests), build, all tests, valgrind
BUILD     ?= build
ASAN_DIR  ?= build-asan
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
DATA      ?= data
CB        := $(BUILD)/crystalbench

.PHONY: all deps build check bench data asan memcheck elements clean

all: build

deps:
	@scripts/deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

data:
	@scripts/get-data $(DATA)

# All tests, then the same tests under valgrind (no leak, no invalid access).
check:
	@scripts/deps --test
	@$(MAKE) --no-print-directory build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@scripts/memcheck $(BUILD)

# The default comparison (configs/default.ini: every backend on every dataset, and the
# published CDVAE and LLaMA-2 samples scored on MP-20), its tables and plots under
# results/, then statistics of every dataset split and the speed benches.  A rerun
# skips finished jobs; RETRAIN=1 redoes them.
RESULTS ?= results
bench: build data
	@$(CB) run configs/default.ini $(if $(RETRAIN),--retrain)
	@mkdir -p $(RESULTS)/tables $(RESULTS)/plots
	@for f in md tex csv html; do \
	    $(CB) table --db $(RESULTS)/crystalbench.db --format $$f --out $(RESULTS)/tables/comparison.$$f || exit 1; \
	done
	@$(CB) plot --db $(RESULTS)/crystalbench.db --out $(RESULTS)/plots
	@cat $(RESULTS)/tables/comparison.md
	@# The README shows the current table: replace what is between its markers.
	@awk -v t=$(RESULTS)/tables/comparison.md \
	    '/<!-- results-table:end -->/ {while ((getline l < t) > 0) print l; skip = 0} \
	     !skip {print} /<!-- results-table:begin -->/ {skip = 1}' README.md > README.md.tmp && mv README.md.tmp README.md
	@for f in $(DATA)/mp_20/test.csv $(DATA)/mp_20/val.csv $(DATA)/perov_5/test.csv \
	          $(DATA)/perov_5/val.csv $(DATA)/carbon_24/test.csv $(DATA)/carbon_24/val.csv \
	          $(DATA)/mpts_52/test.csv $(DATA)/mpts_52/val.csv; do \
	    $(CB) data stats $$f || exit 1; echo; \
	done
	@for b in $(BUILD)/bench_*; do [ -x "$$b" ] && "$$b" || true; done

# Tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DCB_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)
	@cd $(ASAN_DIR) && ctest --output-on-failure -j $(JOBS)

# Tests under valgrind's leak checker only.
memcheck: build
	@scripts/memcheck $(BUILD)

# Regenerates core/elements_table.c from shared/data/elements (needs ../shared).
elements:
	@python3 tools/gen_elements.py $${CB_SHARED_DIR:-../shared}/data/elements > core/elements_table.c.tmp
	@mv core/elements_table.c.tmp core/elements_table.c

clean:
	@rm -rf $(BUILD) $(ASAN_DIR)
