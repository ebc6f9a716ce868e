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

# The default comparison.  For now: statistics of every dataset split, the DNG metrics
# of the published sample files (when present) against MP-20 test, and the benches.
bench: build data
	@for f in $(DATA)/mp_20/test.csv $(DATA)/mp_20/val.csv $(DATA)/perov_5/test.csv \
	          $(DATA)/perov_5/val.csv $(DATA)/carbon_24/test.csv $(DATA)/carbon_24/val.csv \
	          $(DATA)/mpts_52/test.csv $(DATA)/mpts_52/val.csv; do \
	    $(CB) data stats $$f || exit 1; echo; \
	done
	@for s in $(DATA)/samples/*_mp20_*.csv; do \
	    [ -f "$$s" ] || continue; \
	    $(CB) eval dng --samples "$$s" --reference $(DATA)/mp_20/test.csv --subset all || exit 1; echo; \
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
