# Zokio: the two commands a user needs.
#
#   make run     install the Debian dependencies, build (release preset, build/), then run
#                build/bin/zokio-diag --check-async, which prints its verdict and exit code;
#                when that is not 0, make reports "Error <code>" and exits non-zero (make's 2)
#   make test    the same set-up, then the whole test suite three times, each in its own tree,
#                stopping at the first pass that fails (non-zero on a failure):
#                  release  build/       GCC, -O3 (the tests, zokio-diag and zokio-soak -O2):
#                                        every test (what `make check` runs)
#                  asan     build-asan/  Clang 14 -O2 -gline-tables-only, ASan + UBSan
#                                        (-fno-sanitize-recover=all) and LeakSanitizer, with
#                                        the leak checks of tests/leak/
#                  tsan     build-tsan/  Clang 14 -O2 -gline-tables-only, ThreadSanitizer
#                The sanitizer trees build the runtime, zokio-diag, the examples and the tests,
#                not zokio-bench or zokio-soak, and leave out tests labelled "nosan"
#                (format_check); the tsan tree also leaves out the fuzz replays (one-thread
#                parsers) and the public headers' compile-only check, which the other two
#                make. Options come from the asan and tsan presets in CMakePresets.json (line
#                tables are all a symbolized sanitizer report needs, and they compile faster
#                than -g); any sanitizer report fails the test that printed it. TSan's
#                processes wait 50 ms at exit for a late race (atexit_sleep_ms), not TSan's
#                default second: every test case is a process of its own, and that second was
#                most of the tsan suite's time.
#                While a pass's suite runs, the next sanitizer tree is configured and built at
#                nice 19 (scripts/make-test.sh), so a suite's waiting is not idle time.
#                Each build and suite prints how long it took, and .ci/run the total, so the
#                figure for a machine is in its own log.
#   make check   the quick loop for daily work: release build and release suite only
#   make test-asan, make test-tsan
#                one sanitizer pass alone (configure, build, ctest with the preset's options)
#   make fuzz    the libFuzzer targets of tests/fuzz/, built in the asan tree, each run for
#                FUZZ_SECONDS (default 300) from its seeds; fails on a crash, sanitizer report,
#                leak or timeout. The targets: http_request (the server's request framing),
#                http_router (routes and lookups against a reference matcher), http_response (the
#                client's response framing), bench_compare (zokio-bench compare's JSON reader),
#                tool_args (zokio-bench's and zokio-soak's argument parsing). FUZZ_TARGET=<name>
#                runs one of them alone (make fuzz FUZZ_TARGET=http_router FUZZ_SECONDS=300).
#                make test runs each target for 30 s in the asan pass, two at a time
#                (ZOKIO_FUZZ_SECONDS_<target> in the asan tree's cache changes one target's
#                time, ZOKIO_FUZZ_SECONDS every target's)
#   make format  clang-format the project's *.cpp/*.hpp in place
#   make clean   remove the preset build directories
#
# JOBS (default 2) sets the build and ctest parallelism. The other targets (deps, configure,
# build) are internal steps of run, check and test.

SHELL := /bin/bash
.DEFAULT_GOAL := build

BUILD_DIR := build
PRESET    := release
JOBS      ?= 2
DIAG      := $(BUILD_DIR)/bin/zokio-diag

.PHONY: run test check test-release test-asan test-tsan fuzz format clean deps configure build

run: build
	@if [[ ! -x $(DIAG) ]]; then \
	  echo "make run: $(DIAG) was not built (tools/zokio-diag missing or ZOKIO_BUILD_TOOLS=OFF)" >&2; \
	  exit 2; \
	fi
	@echo "== $(DIAG) --check-async"
	@# The tool prints its own verdict and "zokio-diag: exit N (meaning)" from its one exit-code
	@# table (zokio-diag --help); make only passes the code on.
	@./$(DIAG) --check-async

# The passes run in order and stop at the first failure; while one pass's suite runs, the next
# sanitizer tree builds at nice 19 (scripts/make-test.sh says why). Each step prints its time.
test:
	@bash scripts/make-test.sh $(JOBS)

check: test-release

test-release: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure --no-tests=error -j$(JOBS)

# configure + build + ctest of one sanitizer preset (asan or tsan). The test presets carry the
# sanitizer options (ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS, TSAN_OPTIONS) and the "nosan"
# filter, so `ctest --preset asan` by hand runs exactly what make test runs.
test-asan test-tsan: test-%: deps
	cmake --preset $*
	cmake --build --preset $* -j $(JOBS)
	ctest --preset $* -j$(JOBS)

FUZZ_SECONDS ?= 300
FUZZ_TARGET  ?=
fuzz: deps
	cmake --preset asan
	ZOKIO_FUZZ_SECONDS=$(FUZZ_SECONDS) cmake --build --preset asan -j $(JOBS) \
	  --target fuzz-run$(if $(FUZZ_TARGET),-$(FUZZ_TARGET))

format:
	bash scripts/check-format.sh --fix

clean:
	rm -rf build build-debug build-asan build-tsan

# --- internal steps ---------------------------------------------------------------------------

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake --preset $(PRESET)

build: configure
	cmake --build --preset $(PRESET) -j $(JOBS)
