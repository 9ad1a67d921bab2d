# Zokio: the two commands a user needs.
#
#   make run     install the Debian dependencies, build (release preset, build/), then run
#                build/bin/zokio-diag --check-async and show its verdict and exit code; when
#                that is not 0, make reports "Error <code>" and exits non-zero (make's own 2)
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
	@set +e; ./$(DIAG) --check-async; rc=$$?; \
	case $$rc in \
	  0) verdict="PASSED: the asynchronous path runs (no sync fallback)";; \
	  1) verdict="FAILED: a check failed";; \
	  2) verdict="ERROR: usage or environment error";; \
	  3) verdict="FAILED: hang (watchdog fired) or interrupted by a signal";; \
	  4) verdict="FAILED: deadlock, lost wake-up, or an error of the tool itself";; \
	  5) verdict="FAILED: sync fallback detected";; \
	  *) verdict="FAILED: unexpected exit code";; \
	esac; \
	echo "== zokio-diag --check-async verdict: $$verdict (exit $$rc)"; \
	exit $$rc

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
