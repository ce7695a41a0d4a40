# The creditstream application image (worker, API, CLI) for docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY creditstream creditstream
COPY schemas schemas
COPY connectors connectors
COPY streams streams
COPY sinks sinks
COPY api api
COPY monitoring monitoring
RUN pip install --no-cache-dir . && useradd --system --home /app creditstream && chown -R creditstream /app
USER creditstream
ENV CREDITSTREAM_WEB_HOST=0.0.0.0 CREDITSTREAM_API_HOST=0.0.0.0 CREDITSTREAM_DATA_DIR=/app/data
ENTRYPOINT ["creditstream"]
