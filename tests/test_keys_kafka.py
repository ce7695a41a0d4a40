"""Key commands against the real broker: what the probe found (a full key given to `revoke`, an
unknown key id, an empty or repeated lender name) is refused with a clear message, and nothing
derived from a secret but its hash ever reaches the keys topic."""
import re

from creditstream.schemas.models import KeyEvent
from creditstream.schemas.topics import API_KEYS_TOPIC
from tests.support.kafka import cli as run_as_admin
from tests.support.kafka import read_topic


def cli(*args):
    return run_as_admin(*args, check=False, timeout=120)  # these tests look at the refusals themselves


def key_events():
    return [KeyEvent.from_bytes(m.value()) for m in read_topic(API_KEYS_TOPIC)]


def test_lender_and_key_commands_refuse_what_would_do_nothing_or_harm(kafka_settings):
    empty = cli("lenders", "add", "  ")
    assert empty.returncode == 2 and "needs a name" in empty.stderr
    added = cli("lenders", "add", "Heihe Rural  Commercial Bank")
    assert added.returncode == 0, added.stderr
    lender_id = re.search(r"lender id: (\S+)", added.stdout).group(1)
    key = re.search(r"API key \(shown once, store it now\): (\S+)", added.stdout).group(1)
    key_id = key.split("_")[1]
    again = cli("lenders", "add", "heihe rural commercial bank")
    assert again.returncode == 2 and f"exists with id {lender_id}" in again.stderr and "add-key" in again.stderr
    second = cli("lenders", "add-key", lender_id)
    assert second.returncode == 0 and re.search(r"key id: (\S+)", second.stdout).group(1) != key_id
    assert cli("lenders", "add-key", "lender-nosuch").returncode == 2
    events_before = len(key_events())

    whole = cli("lenders", "revoke", key)
    assert whole.returncode == 2 and "whole API key" in whole.stderr
    unknown = cli("lenders", "revoke", "nosuchkeyid")
    assert unknown.returncode == 2 and "no key with id 'nosuchkeyid'" in unknown.stderr
    other_kind = cli("enterprises", "revoke", key_id)
    assert other_kind.returncode == 2 and f"belongs to lender {lender_id}" in other_kind.stderr
    assert len(key_events()) == events_before  # none of the refusals sent anything

    revoked = cli("lenders", "revoke", key_id)
    assert revoked.returncode == 0 and f"revoked key {key_id} of lender {lender_id}" in revoked.stdout
    twice = cli("lenders", "revoke", key_id)
    assert twice.returncode == 2 and "revoked already" in twice.stderr
    listing = cli("lenders", "list")
    assert listing.returncode == 0 and key_id in listing.stdout and "revoked" in listing.stdout
    assert key not in listing.stdout

    secret = key.split("_", 2)[2]
    raw = b"".join(m.value() for m in read_topic(API_KEYS_TOPIC))
    assert secret.encode() not in raw and key.encode() not in raw
    mine = [e for e in key_events() if e.principal_id == lender_id]
    assert {e.name for e in mine} == {"Heihe Rural Commercial Bank"} and len(mine) == 3  # 2 keys, 1 revocation
