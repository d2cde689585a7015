.PHONY: install test lint format bench example clean

install:
	python -m pip install -e ".[test]"

test:
	python -m pip install -q -e ".[test]" && python -m pytest

lint:
	ruff check . && ruff format --check .

format:
	ruff check --fix . && ruff format .

bench:
	python bench/bench_metadata.py
	python bench/bench_validator.py
	python bench/bench_executor.py
	python bench/unsafe_corpus.py

example:
	python -m data_create inspect --out runs/example

clean:
	rm -rf runs .pytest_cache .ruff_cache build dist *.egg-info
