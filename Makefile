# Two commands do all the set-up on a fresh machine: `make search` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: search test docs browser mutation data benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,timeseries,docs]'
	touch $(STAMP)

# The offline default data set: Debian's package, installed when apt-get and root are at hand.
data:
	@if [ -z "$$EVOHYBRID_DATA" ] && [ ! -e $(FASHION_MNIST) ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	  else \
	    echo "Fashion-MNIST not found: run 'sudo apt-get install dataset-fashion-mnist' or set EVOHYBRID_DATA to a folder with its IDX files"; \
	  fi; \
	fi

search: $(STAMP) data
	$(VENV)/bin/evohybrid search --budget 200 --config default

# Debian's chromium opens the report in the browser test, installed when apt-get and root are at hand (skipped elsewhere).
browser:
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# The docs site in site/, warnings as errors (a broken link or a page left out of the navigation fails).
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

# One worker per core, up to 4, a module at a time (tests/conftest.py says which modules go together). The slowest
# tests are listed at the end: the suite must stay under 10 minutes on 2 cores.
test: $(STAMP) data browser
	$(PY) -m pytest -q -n auto --maxprocesses 4 --durations 15

# The mutation score of the core modules (hours on two cores): see docs/testing.md. A pass continues where it stopped,
# on this machine from mutants/, elsewhere from the verdicts kept in tests/mutation/verdicts/ (a finished pass keeps
# its own; after a stop, `python tests/mutation/verdicts.py keep`), and starts afresh when modules or tests move.
# One thread a mutant: mutmut runs one mutant per core, and no thread pool starts before a fork.
mutation: $(STAMP) data
	$(PY) -m pip install --quiet -e '.[test,timeseries,mutation]'
	$(PY) tests/mutation/verdicts.py restore
	OMP_NUM_THREADS=1 $(VENV)/bin/mutmut run
	$(PY) tests/mutation/verdicts.py keep
	$(PY) tests/mutation/score.py

# The CPU benchmarks, each printing its ratios (benchmarks/README.md says what each measures); the GPU ones are
# benchmarks/gpu.sh. Never beside another heavy job: the ratios share the machine.
benchmark: $(STAMP) data
	$(PY) benchmarks/cli_speed.py
	$(PY) benchmarks/driver_speed.py --evaluations 20000
	$(PY) benchmarks/evaluator_speed.py
	$(PY) benchmarks/ray_scaling.py --budget 20 --workers 2
	$(PY) benchmarks/space_duplicates.py

clean:
	rm -rf $(VENV) .pytest_cache mutants site
