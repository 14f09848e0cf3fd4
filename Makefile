# spikegate: every target creates .venv on first use and installs from the project's
# own files (requirements.lock, pyproject.toml). Nothing else needs to be set up.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.spikegate-installed
BOARD   ?= ulx3s-85f
MODEL   ?= digits
DATASET ?= digits
EXPORT_OUT ?= build/models/$(DATASET)
PYTEST_ARGS ?=
# one tier or marker expression for make test (pytest keeps only the last -m, so a -m in
# PYTEST_ARGS would drop the "not slow" of the default run)
MARK ?=
# processes make test spreads the tests over (CI machines have 2 cores)
TEST_JOBS ?= 2
# REPORTS=reports: refresh the committed reports (make synth, compare, train); by
# default a run writes its reports under build/reports
REPORTS ?=
TEST_MARK := not slow$(if $(MARK), and ($(MARK)))

.DEFAULT_GOAL := help
COSIM_CASES ?= 50
COSIM_SEQS  ?= 200
COSIM_SEED  ?= 1
COSIM_PACKAGES ?= digits mnist1d digits-slstm digits-idsnn digits-srnn
COSIM_AGREE ?= $(if $(filter icarus,$(SIM)),verilator,icarus)
SIM ?= verilator

LANES   ?=
PAR     ?=
WEIGHTS ?=
SYNTH_ARGS ?=
SYNTH_OPTS := $(if $(LANES),--lanes $(LANES)) $(if $(PAR),--par $(PAR)) $(SYNTH_ARGS)
COMPARE_ARGS ?=
# make sweep: lists (LANES=1,2,4 PAR=8,16,32 SEEDS=1,2,3); JOBS local processes, or
# SCHEDULER=tcp://host:8786 for an existing Dask cluster
SEEDS   ?= 1
JOBS    ?= 2
SCHEDULER ?=
SWEEP_ARGS ?=

.PHONY: help venv test test-all bench synth compare sweep boards weights report train export cosim clean

help:
	@echo "spikegate make targets:"
	@echo "  make test            the default test run (all tiers, CI-sized; not the slow marker) on TEST_JOBS=$(TEST_JOBS) processes; MARK=golden: one tier"
	@echo "  make test-all        every test, including the slow and synth markers"
	@echo "  make synth           bitstream + report: BOARD=$(BOARD) MODEL=$(MODEL) [LANES=L PAR=P]"
	@echo "  make compare         spiking designs vs the non-spiking baseline: BOARD=$(BOARD) MODEL=$(MODEL) (digits, digits-cells, tmnist) [COMPARE_ARGS=...]"
	@echo "  make sweep           lanes x P x nextpnr seeds, Pareto plots: LANES=1,2,4 PAR=8,16,32 SEEDS=1,2,3 [JOBS=2 | SCHEDULER=tcp://host:8786]"
	@echo "  make boards          list the boards make synth knows"
	@echo "  make weights WEIGHTS=pkg   write another weights package into the BOARD/MODEL bitstream"
	@echo "  make report          rebuild reports/ from the builds under build/synth"
	@echo "  make bench           benchmarks that print throughput figures"
	@echo "  make cosim           cocotb regression: COSIM_CASES random configurations + every preset + the COSIM_PACKAGES on their test split + agreement with COSIM_AGREE (SIM=icarus possible)"
	@echo "  make train DATASET=digits   train, convert, fine-tune, quantize; plots in build/reports/training/ (REPORTS=reports: the committed ones)"
	@echo "  make export          package the trained integers (EXPORT_OUT=models/digits refreshes the bundled one)"
	@echo "  make venv            only create .venv and install the pinned packages"
	@echo "  make clean           remove build/ (keeps .venv)"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -qq -r requirements.lock
	$(PY) -m pip install --disable-pip-version-check -qq --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP)

# the tests run on TEST_JOBS processes (pytest-xdist; each file stays on one process,
# TEST_JOBS=0 runs them in this one); the 15 slowest are listed at the end, so a run
# shows where make test's time goes
test: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile -m "$(TEST_MARK)" --durations=15 $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/golden.py
	$(PY) bench/hw_cycles.py

synth: $(STAMP)
	$(PY) -m flows.synth --board '$(BOARD)' --model '$(MODEL)' $(if $(REPORTS),--reports '$(REPORTS)') $(SYNTH_OPTS)

compare: $(STAMP)
	$(PY) -m flows.compare --board '$(BOARD)' --model '$(MODEL)' $(if $(REPORTS),--out '$(REPORTS)') $(COMPARE_ARGS)

sweep: $(STAMP)
	$(PY) -m flows.sweep --board '$(BOARD)' --model '$(MODEL)' $(if $(LANES),--lanes '$(LANES)') $(if $(PAR),--par '$(PAR)') --seeds '$(SEEDS)' --jobs '$(JOBS)' $(if $(SCHEDULER),--scheduler '$(SCHEDULER)') $(if $(REPORTS),--reports '$(REPORTS)') $(SWEEP_ARGS)

boards: $(STAMP)
	@$(PY) -m flows.boards

weights: $(STAMP)
	@test -n "$(WEIGHTS)" || { echo "make weights needs WEIGHTS=<weights package>"; exit 2; }
	$(PY) -m flows.weights --board '$(BOARD)' --model '$(MODEL)' --weights '$(WEIGHTS)'

report: $(STAMP)
	$(PY) -m flows.report --build build/synth --out reports

train: $(STAMP)
	$(PY) -m model.train --dataset '$(DATASET)' $(if $(REPORTS),--reports '$(REPORTS)/training/$(DATASET)') $(TRAIN_ARGS)

export: $(STAMP)
	$(PY) -m hw.package --from 'build/train/$(DATASET)' --out '$(EXPORT_OUT)'

cosim: $(STAMP)
	$(PY) -m cosim.runner --regression $(COSIM_CASES) --sequences $(COSIM_SEQS) --presets $(foreach p,$(COSIM_PACKAGES),--package $(p)) --seed $(COSIM_SEED) --sim $(SIM) --agree $(COSIM_AGREE) --prove-fault --summary build/cosim/summary_seed$(COSIM_SEED).md

clean:
	rm -rf build sim_build
