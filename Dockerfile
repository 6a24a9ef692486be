# The image of either service, chosen with the build arguments SERVICE (core or social),
# which names the workspace package installed (<SERVICE>-service) and the module run
# (<SERVICE>_service), and PORT (core 8001, social 8002). Build context: the REPOSITORY
# ROOT, because the services depend on the workspace package shared-lib:
#   docker build --build-arg SERVICE=core --build-arg PORT=8001 -t instasaga/core-service .
#   docker build --build-arg SERVICE=social --build-arg PORT=8002 -t instasaga/social-service .
# One stage, no `# syntax=` line: the legacy builder (DOCKER_BUILDKIT=0) builds it as well
# as BuildKit, and nothing but the base image is fetched from an image registry.
# No private key is ever copied into the image (.dockerignore): core-service reads its JWT
# private key at run time from JWT_PRIVATE_KEY_FILE (docker-compose.yml mounts one as a
# secret) or JWT_PRIVATE_KEY.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE}
ARG SERVICE
ARG PORT

# Extra CA certificates of the machine that builds (a TLS-intercepting proxy in front of
# PyPI): scripts/compose_stack.py copies them into docker/ca-certificates/, which is
# otherwise empty. pip and uv then verify against the system bundle.
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/instasaga/
RUN update-ca-certificates >/dev/null

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    UV_NATIVE_TLS=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    SERVICE=${SERVICE} \
    PORT=${PORT}

RUN test -n "${SERVICE}" && test -n "${PORT}" \
    && pip install --no-cache-dir uv

WORKDIR /app

# Third-party dependencies first (a layer that survives source changes). uv needs every
# workspace member's pyproject.toml to read the workspace and its lock file.
COPY pyproject.toml uv.lock ./
COPY shared-lib/pyproject.toml shared-lib/
COPY core-service/pyproject.toml core-service/
COPY social-service/pyproject.toml social-service/
COPY ops/pyproject.toml ops/
COPY testkit/pyproject.toml testkit/
COPY gateway/pyproject.toml gateway/
RUN uv sync --frozen --no-dev --package "${SERVICE}-service" --no-install-workspace

# Then the workspace members themselves (the service and shared-lib are installed; the
# other members are copied only because they belong to the workspace).
COPY shared-lib/ shared-lib/
COPY core-service/ core-service/
COPY social-service/ social-service/
COPY ops/ ops/
COPY testkit/ testkit/
COPY gateway/ gateway/
RUN uv sync --frozen --no-dev --package "${SERVICE}-service" --no-editable

RUN groupadd --system app && useradd --system --gid app --home-dir /app --no-create-home app
USER app

ENV PATH="/app/.venv/bin:$PATH"
EXPOSE ${PORT}

# The shell expands PORT when the check runs.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${PORT}/health', timeout=4)"

# Migrations first (an advisory lock makes concurrent replicas safe), then the server.
CMD ["sh", "-c", "python -m ${SERVICE}_service.migrate && exec uvicorn ${SERVICE}_service.main:create_app --factory --host 0.0.0.0 --port ${PORT} --no-access-log"]
