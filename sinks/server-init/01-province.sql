-- docker-compose's ClickHouse server runs this once, on an empty data volume: the provincial
-- node's worker (profile "province") keeps its tables in a database of its own.
CREATE DATABASE IF NOT EXISTS province;
