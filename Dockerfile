# The creditstream application image (worker, API, CLI) for docker-compose.yml.
# MirrorMaker 2 (`creditstream province mirror`) runs on Java with the apache/kafka image's jars,
# the broker's own release.
FROM apache/kafka:4.1.1 AS kafka
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
COPY --from=kafka /opt/kafka/libs /opt/kafka/libs
ENV MIRROR_CLASSPATH=/opt/kafka/libs/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY creditstream creditstream
COPY schemas schemas
COPY connectors connectors
COPY streams streams
COPY sinks sinks
COPY api api
COPY monitoring monitoring
COPY broker/__init__.py broker/kafka.sh broker/mirror.sh broker/pom.xml broker/log4j2.properties broker/
COPY broker/mirror/pom.xml broker/mirror/log4j2.properties broker/mirror/
RUN pip install --no-cache-dir . && useradd --system --home /app creditstream && chown -R creditstream /app
USER creditstream
ENV CREDITSTREAM_WEB_HOST=0.0.0.0 CREDITSTREAM_API_HOST=0.0.0.0 CREDITSTREAM_HOME=/app/data
ENTRYPOINT ["creditstream"]
