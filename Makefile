# Everything runs through uv; `make install` once, or let the targets do it.
UV ?= uv
PYTEST_ARGS ?=
REPLICAS ?= 1

.PHONY: install dev up down test test-fast bench lint migrate check replay-dlq subscriptions asyncapi

install:
	$(UV) sync --all-packages --frozen

dev: install
	$(UV) run python scripts/dev.py --replicas $(REPLICAS)

up:
	docker compose up --build

down:
	docker compose down

test: install
	$(UV) run pytest $(PYTEST_ARGS)

test-fast: install
	$(UV) run pytest -m "not slow" $(PYTEST_ARGS)

bench: install
	$(UV) run python bench/run.py $(BENCH_ARGS)

lint: install
	$(UV) run ruff check .

migrate: install
	DATABASE_URL=$${CORE_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/core} \
		$(UV) run python -m core_service.migrate
	DATABASE_URL=$${SOCIAL_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/social} \
		$(UV) run python -m social_service.migrate

check: install
	$(UV) run python -m ops_tools.consistency

# make replay-dlq QUEUE=social.events.projections.dlq [ARGS="--dry-run --limit 10"]
replay-dlq: install
	@test -n "$(QUEUE)" || { echo 'usage: make replay-dlq QUEUE=<queue>.dlq [ARGS="--dry-run --limit N --amqp-url URL"]' >&2; exit 2; }
	$(UV) run python -m ops_tools.replay_dlq "$(QUEUE)" $(ARGS)

# docs/asyncapi/*.yaml from the message contracts and the topology
asyncapi: install
	$(UV) run python scripts/write_asyncapi.py

# after adding, moving or removing a message handler: the topology is built from this file
subscriptions: install
	$(UV) run python scripts/write_subscriptions.py
