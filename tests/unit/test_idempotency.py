from concurrent.futures import ThreadPoolExecutor

import pytest

from engine.batch.idempotency import CREATE_GRACE_SECONDS, IdempotencyIndex
from engine.errors import InvalidRequest


class Batches:
    """Which batches exist, and a clock: what the index asks the store and time."""

    def __init__(self):
        self.stored: set[str] = set()
        self.now = 1000.0


@pytest.fixture
def batches():
    return Batches()


@pytest.fixture
def index(tmp_path, batches):
    return IdempotencyIndex(tmp_path, batches.stored.__contains__, lambda: batches.now)


def create(index, batches, batch_id, body=b"{}", owner="o", key="k") -> str:
    """What the routes do: create the batch once per key."""
    holder, _ = index.create_once(owner, key, batch_id, body, lambda: batches.stored.add(batch_id))
    return holder


def test_the_same_key_and_request_return_the_first_batch(index, batches):
    assert create(index, batches, "batch_first") == "batch_first"
    assert create(index, batches, "batch_second") == "batch_first"
    assert create(index, batches, "batch_other_owner", owner="p") == "batch_other_owner"
    with pytest.raises(InvalidRequest, match="different request") as refused:
        create(index, batches, "batch_third", body=b'{"x": 1}')
    assert refused.value.field == "Idempotency-Key"


def test_the_key_is_free_again_once_its_batch_is_gone(index, batches):
    assert create(index, batches, "batch_first") == "batch_first"
    batches.stored.discard("batch_first")  # past its retention
    assert create(index, batches, "batch_again", body=b'{"new": "request"}') == "batch_again"
    assert create(index, batches, "batch_later", body=b'{"new": "request"}') == "batch_again"


def test_a_batch_still_being_created_holds_its_key_until_the_grace_ends(index, batches):
    assert index.claim("o", "k", "batch_slow", b"{}") == "batch_slow"  # not created yet
    assert index.claim("o", "k", "batch_eager", b"{}") == "batch_slow"
    batches.now += CREATE_GRACE_SECONDS + 1  # its maker crashed before creating it
    assert index.claim("o", "k", "batch_eager", b"{}") == "batch_eager"


def test_racing_claims_agree_on_one_batch(index, batches):
    batches.stored.add("batch_gone_soon")
    create(index, batches, "batch_gone_soon")
    batches.stored.clear()  # so every racer also tries to take the freed claim over
    with ThreadPoolExecutor(8) as pool:
        holders = list(pool.map(lambda n: index.claim("o", "k", f"batch_{n}", b"{}"), range(16)))
    assert len(set(holders)) == 1 and holders[0] != "batch_gone_soon"


def test_a_failed_create_frees_the_key_and_without_a_key_create_just_runs(index, batches):
    def broken():
        raise InvalidRequest("bad file", field="file")

    with pytest.raises(InvalidRequest, match="bad file"):
        index.create_once("o", "k", "batch_broken", b"{}", broken)
    assert create(index, batches, "batch_fixed") == "batch_fixed"  # the failed attempt does not hold the key
    assert index.create_once("o", None, "batch_keyless", b"{}", lambda: "made") == ("batch_keyless", "made")
