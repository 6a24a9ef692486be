# Everything runs through uv; `make install` once, or let the targets do it.
UV ?= uv
PYTEST_ARGS ?=
REPLICAS ?= 1
RABBITMQ_NODES ?= 1

.PHONY: install dev up down test test-fast bench lint migrate check replay-dlq subscriptions asyncapi openapi gateway fuzz console console-screenshot

install:
	$(UV) sync --all-packages --frozen

dev: install
	$(UV) run python scripts/dev.py --replicas $(REPLICAS) --rabbitmq-nodes $(RABBITMQ_NODES)

# the compose stack, detached, once healthy (scripts/compose_stack.py: starts the engine and
# builds local stand-ins of the base images when no registry answers); `make down VOLUMES=1`
# also removes the data; `make up RABBITMQ_NODES=3` runs a 3-node RabbitMQ cluster
up:
	python3 scripts/compose_stack.py up --rabbitmq-nodes $(RABBITMQ_NODES)

down:
	python3 scripts/compose_stack.py down $(if $(VOLUMES),--volumes)

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

# waits up to SETTLE seconds for outboxes and queues to drain, then compares
SETTLE ?= 30
check: install
	$(UV) run python -m ops_tools.consistency --settle $(SETTLE)

# make replay-dlq QUEUE=social.events.projections.dlq [ARGS="--dry-run --limit 10"]
replay-dlq: install
	@test -n "$(QUEUE)" || { echo 'usage: make replay-dlq QUEUE=<queue>.dlq [ARGS="--dry-run --limit N --amqp-url URL"]' >&2; exit 2; }
	$(UV) run python -m ops_tools.replay_dlq "$(QUEUE)" $(ARGS)

# the operator console alone on 127.0.0.1:8009, against the services of `make dev`
# (CONSOLE_* variables to point it elsewhere; OPS_TOKEN or the development-only default)
console: install
	CONSOLE_OPS_TOKEN=$${CONSOLE_OPS_TOKEN:-$${OPS_TOKEN:-ops-dev-only}} \
		$(UV) run python -m ops_tools.console

# docs/console-timeline.png: a stack of its own, a saga with a compensation, its timeline
console-screenshot: install
	$(UV) run python scripts/console_screenshot.py

# docs/asyncapi/*.yaml from the message contracts and the topology
asyncapi: install
	$(UV) run python scripts/write_asyncapi.py

# after adding, moving or removing a message handler: the topology is built from this file
subscriptions: install
	$(UV) run python scripts/write_subscriptions.py

# docs/openapi/*.json from the services' apps
openapi: install
	$(UV) run python scripts/write_openapi.py

# the gateway's locations (default.conf.template) from the services' apps
gateway: install
	$(UV) run python scripts/write_gateway.py

# tests/e2e/test_fuzz.py (schemathesis) longer, with a random seed; choose with
# FUZZ_MAX_EXAMPLES, FUZZ_SEED (a number, or random) and FUZZ_MAX_TIME (seconds a service)
fuzz: install
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-100} FUZZ_SEED=$${FUZZ_SEED:-random} \
		FUZZ_MAX_TIME=$${FUZZ_MAX_TIME:-600} \
		$(UV) run pytest tests/e2e/test_fuzz.py -s --timeout 3600 $(PYTEST_ARGS)
