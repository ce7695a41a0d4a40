"""The contract layer (``creditstream.schemas``): everything every process of the platform must
agree on, and nothing that does I/O beyond reading its own schema files.

- ``avro/<Record>/v<N>.avsc``: the records; every version kept, the highest is current
- ``codec``: single-object Avro, writer schema by fingerprint; ``compat``: the compatibility gate
- ``topics``: topics and the records they carry; ``kafka``: client profiles and partitioning
- ``records``: JSON form ⇄ typed values, the replay line format
- ``uscc``, ``months``, ``rules``: USCC rules, calendar months, validation and reason codes
- ``models``: the platform's own messages; ``tables``: the ClickHouse rows; ``apikeys``: key format
"""
from pathlib import Path

AVRO_DIR = Path(__file__).resolve().parent / "avro"
