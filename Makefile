# The two commands (see README): `make demo` and `make test`. Everything else is a helper.
.PHONY: demo test lint bench clean venv

VENV := .venv
STAMP := $(VENV)/.installed

demo:
	@bash scripts/bootstrap.sh
	@$(VENV)/bin/edoc demo

test:
	@bash scripts/test.sh

lint:
	@bash scripts/bootstrap.sh
	@bash scripts/lint.sh

bench:
	@bash scripts/bootstrap.sh
	@$(VENV)/bin/python bench/verify.py

venv:
	@bash scripts/bootstrap.sh

clean:
	-@$(VENV)/bin/edoc local kafka stop 2>/dev/null
	rm -rf .var .mypy_cache .ruff_cache .pytest_cache .hypothesis
