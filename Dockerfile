# One image for every process of the code location: code server, webserver, daemon and web app.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/home

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 organizer

WORKDIR /app
COPY pyproject.toml README.md ./
COPY organizer_pipeline ./organizer_pipeline
RUN pip install --no-cache-dir . \
    && mkdir -p /opt/dagster/home /app/.organizer \
    && chown -R organizer:organizer /opt/dagster /app/.organizer
COPY --chown=organizer:organizer dagster.yaml workspace.yaml workspace.docker.yaml /opt/dagster/home/

USER organizer
EXPOSE 3000 4000 8080
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -fsS http://127.0.0.1:8080/health || exit 1
CMD ["organizer", "web", "--host", "0.0.0.0", "--port", "8080"]
