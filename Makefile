# Zokio: the two commands a user needs.
#
#   make run     install the Debian dependencies, build (release preset, build/), then run
#                build/bin/zokio-diag --check-async, which prints its verdict and exit code;
#                when that is not 0, make reports "Error <code>" and exits non-zero (make's 2)
#   make test    the same set-up, then the whole test suite with ctest (non-zero on a failure)
#   make format  clang-format the project's *.cpp/*.hpp in place
#   make clean   remove the preset build directories
#
# The other targets (deps, configure, build) are internal steps of run and test.

SHELL := /bin/bash
.DEFAULT_GOAL := build

BUILD_DIR := build
PRESET    := release
JOBS      ?= 2
DIAG      := $(BUILD_DIR)/bin/zokio-diag

.PHONY: run test format clean deps configure build

run: build
	@if [[ ! -x $(DIAG) ]]; then \
	  echo "make run: $(DIAG) was not built (tools/zokio-diag missing or ZOKIO_BUILD_TOOLS=OFF)" >&2; \
	  exit 2; \
	fi
	@echo "== $(DIAG) --check-async"
	@# The tool prints its own verdict and "zokio-diag: exit N (meaning)" from its one exit-code
	@# table (zokio-diag --help); make only passes the code on.
	@./$(DIAG) --check-async

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure --no-tests=error -j$(JOBS)

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
