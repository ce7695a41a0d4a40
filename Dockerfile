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
COPY broker/__init__.py broker/kafka.sh broker/pom.xml broker/log4j2.properties broker/
RUN pip install --no-cache-dir . && useradd --system --home /app creditstream && chown -R creditstream /app
USER creditstream
ENV CREDITSTREAM_WEB_HOST=0.0.0.0 CREDITSTREAM_API_HOST=0.0.0.0 CREDITSTREAM_HOME=/app/data
ENTRYPOINT ["creditstream"]
