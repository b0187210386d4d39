# Two commands matter: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

.PHONY: run test test-unit test-integration test-pg test-e2e install translations extract-messages lint bench backup restore clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

translations: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d app/translations -D messages >/dev/null

## Serve the platform with demo data (PORT, DATABASE_URL honoured). Safe to run again.
run: translations
	$(BIN)/flask setup
	$(BIN)/flask seed-demo
	ACCESS_LOG=$${ACCESS_LOG:--} $(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

## Unit and integration tests on SQLite (or on TEST_DATABASE_URL when set).
test: translations
	$(BIN)/pytest -q tests/unit tests/integration

test-pg: translations
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres} \
		$(BIN)/pytest -q tests/integration

## Browser tests: Playwright driving Debian's Chromium against a live gunicorn.
test-e2e: translations
	$(BIN)/pytest -q tests/e2e

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k _lp:1c,2 -o app/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching

lint: $(STAMP)
	$(BIN)/ruff check .

## Every script in bench/, one after another; they print figures (see README, Performance).
bench: translations
	for script in address_resolution obligations_and_plans filings search load_mix large_organizations faults; do $(BIN)/python bench/$$script.py || exit 1; done

## Back up DATABASE_URL and UPLOAD_ROOT into BACKUP_DIR (default backups/); restore one archive.
BACKUP_DIR ?= backups
backup: $(STAMP)
	$(BIN)/flask backup create --to $(BACKUP_DIR)

restore: $(STAMP)
	@test -n "$(FILE)" || { echo "usage: make restore FILE=backups/outletpool-backup-....tar"; exit 2; }
	$(BIN)/flask backup restore "$(FILE)"

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache test-output
