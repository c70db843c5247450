# One command sets everything up and builds the examples (`make demo`);
# one sets everything up and runs the whole test suite (`make test`);
# `make stress` runs the long kill and fuzzing campaigns; `make conformance`
# the WebAssembly spec suite through synth; `make fuzz` differential fuzzing.
# The set-up, system packages included, is scripts/setup (it skips what is
# already there).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
JOBS ?= auto
SETUP := PYTHON=$(PYTHON) VENV=$(VENV) scripts/setup

.PHONY: all demo test setup-demo setup-test bench bench-stages stress conformance fuzz clean

all: demo

setup-demo:
	@$(SETUP) demo

setup-test:
	@$(SETUP) test

# The venv with the test extras (what `make test` sets up).
$(BIN)/wasmelt: pyproject.toml engine/client_native.c
	@$(SETUP) test

demo: setup-demo
	$(BIN)/wasmelt build //examples/app/...

test: setup-test
	$(BIN)/python -m pytest -q -n $(JOBS)

bench: setup-test
	$(BIN)/python bench/run_all.py

# Each stage against its peer (binaryen, wasm-opt, wasm2c) and the size
# corpus (bench/corpus) against native arm-none-eabi-gcc; npm's binaryen
# is installed into bench/.npm on first use.
bench-stages: setup-test
	$(BIN)/python bench/stages.py

# Kill -9 the example build at many random moments and fuzz the BUILD.toml
# loader, the wasm decoder and the label parser; STRESS_SECONDS=600 for longer.
stress: setup-test
	$(BIN)/python stress/run.py

# Every .wast file of the WebAssembly core spec suite (../shared/wasm-testsuite)
# through component -> builtin synth -> emulation; fails on a wrong result.
# CONFORMANCE_CPU=cortex-m0 (any soft-float cpu) runs it for another core.
CONFORMANCE_CPU ?= cortex-m4
conformance: setup-test
	mkdir -p wasmelt-out && nice $(BIN)/python tests/conformance/spec_runner.py --all --cpu $(CONFORMANCE_CPU) \
		--table wasmelt-out/conformance$(if $(filter cortex-m4,$(CONFORMANCE_CPU)),,-$(CONFORMANCE_CPU)).md

# Differential fuzzing of synth (Thumb vs wasmtime), fuse and DCE on seeded
# wasm-tools smith modules; FUZZ_MODULES=300 FUZZ_SEED=1 FUZZ_CPU=cortex-m4 by default.
FUZZ_MODULES ?= 300
FUZZ_SEED ?= 1
FUZZ_CPU ?= cortex-m4
fuzz: setup-test
	WASMELT_FUZZ_MODULES=$(FUZZ_MODULES) WASMELT_FUZZ_SEED=$(FUZZ_SEED) WASMELT_FUZZ_CPU=$(FUZZ_CPU) nice $(BIN)/python -m pytest -q -s \
		tests/toolchains/synth/test_fuzz.py

clean:
	rm -rf wasmelt-out .wasmelt
