"""Avro schemas of the credit event contract (``schemas/avro/<Record>/v<N>.avsc``).

Every version ever published stays in the tree: readers resolve the writer schema of a message
by its fingerprint, so removing a file would turn old messages into dead letters.
"""
from pathlib import Path

AVRO_DIR = Path(__file__).resolve().parent / "avro"
