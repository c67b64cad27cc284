# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DISTS := -e . -e plugins/tf_frontend -e plugins/ir_backend -e plugins/slim -e plugins/od_api
STAMP := $(VENV)/.tfconv-installed
# The example plugin distribution the tests install (examples/custom_op).
DISTS += -e examples/custom_op
# The example vendor emitter (examples/onnx_emitter, --target onnx).
DISTS += -e examples/onnx_emitter
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv demo test test-fast bench fuzz docs clean custom-op

venv: $(STAMP)

$(STAMP): setup.cfg plugins/*/setup.cfg examples/*/setup.cfg requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q $(DISTS)
	touch $(STAMP)

demo: venv
	$(PY) examples/demo.py

# The example's TensorFlow op (C++), compiled with the system's g++ against the installed
# TensorFlow; cached in .cache/custom_op per source and TF version (the tests reuse it).
custom-op: venv
	command -v g++ >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq g++)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m tfconv_custom_op.build .cache/custom_op

# The suite runs in TEST_WORKERS processes (pytest-xdist), one test file per worker at a time so
# that a module's fixtures are built once; models are shared through the zoo's file cache.
TEST_WORKERS ?= 2

test: venv custom-op
	TFCONV_NO_SKIPS=1 $(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -q -m "not zoo" $(PYTEST_ARGS)

bench: venv
	$(PY) bench/bench_convert.py
	$(PY) bench/bench_scale.py
	$(PY) bench/bench_weights.py
	$(PY) bench/bench_preprocess.py
	$(PY) bench/bench_layers.py
	$(PY) bench/bench_onnx.py
	$(PY) bench/bench_od.py
	$(PY) bench/bench_rnn.py

fuzz: venv
	$(PY) bench/fuzz.py --cases 10000

docs: venv
	$(VENV)/bin/tfconv ops --markdown > docs/supported_ops.md

clean:
	rm -rf $(VENV) .cache demo-output
