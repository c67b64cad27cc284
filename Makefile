# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DISTS := -e . -e plugins/tf_frontend -e plugins/ir_backend -e plugins/slim -e plugins/od_api
STAMP := $(VENV)/.tfconv-installed
# The example vendor emitter (examples/onnx_emitter, --target onnx).
DISTS += -e examples/onnx_emitter

.PHONY: venv demo test test-fast bench fuzz docs clean

venv: $(STAMP)

$(STAMP): setup.cfg plugins/*/setup.cfg examples/*/setup.cfg requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q $(DISTS)
	touch $(STAMP)

demo: venv
	$(PY) examples/demo.py

test: venv
	TFCONV_NO_SKIPS=1 $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -q -m "not zoo" $(PYTEST_ARGS)

bench: venv
	$(PY) bench/bench_convert.py
	$(PY) bench/bench_preprocess.py
	$(PY) bench/bench_layers.py

fuzz: venv
	$(PY) bench/fuzz.py --cases 10000

docs: venv
	$(VENV)/bin/tfconv ops --markdown > docs/supported_ops.md

clean:
	rm -rf $(VENV) .cache demo-output
