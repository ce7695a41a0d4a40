"""Provider-side connectors: files and simulated providers → Kafka, as single-object Avro."""
