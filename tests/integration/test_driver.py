"""The Python driver: `engine.connect()` in this process, and `engine.HTTPClient` against the service.

The driver reuses the session's Ray (the `ray_session` fixture) and runs its own
caller pool ("driver") and store, so nothing is shared with the service's.
"""

import csv
import json

import httpx
import polars as pl
import pytest
import ray

import engine
from engine.batch.service import items_frame
from engine.errors import (
    ConfigurationError,
    Conflict,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
)
from engine.models import PARAMS
from engine.sdk.inputs import parse_items
from engine.store.batch_store import new_batch_id
from serve_app.events import status_events
from tests.fixtures import service_settings

pytestmark = pytest.mark.integration

CATEGORIES = ["positive", "negative", "mixed"]
POOL = "driver"


def items(n, prefix="review"):
    return [{"content": f"{prefix} {i}: the product was fine", "id": f"{prefix}-{i}"} for i in range(n)]


@pytest.fixture(scope="module")
def client(ray_session, simulator, tmp_path_factory):
    settings = service_settings(simulator, tmp_path_factory.mktemp("driver-store"))
    client = engine.connect(settings=settings, pool_name=POOL)
    yield client
    client.pool.kill()
    try:
        ray.kill(ray.get_actor(f"{POOL}-limiter-openai", namespace="agentflow"), no_restart=True)
    except ValueError:
        pass
    client.close()


@pytest.fixture(scope="module")
def http(service):
    with engine.HTTPClient(service) as http:
        yield http


def assert_in_order(frame: pl.DataFrame, n: int, prefix: str = "review") -> None:
    assert frame.height == n
    assert frame["index"].to_list() == list(range(n))
    assert frame["id"].to_list() == [f"{prefix}-{i}" for i in range(n)]
    assert frame["status"].unique().to_list() == ["completed"]
    assert set(frame["label"].unique()) <= set(CATEGORIES)
    assert frame["error_type"].null_count() == n


def test_connect_reuses_the_initialised_ray(client):
    assert ray.is_initialized() and client._owns_ray is False
    assert client.pool.name == POOL


def test_driver_batch_of_1000_items_comes_back_as_a_frame_in_order(client, clean_simulator, capsys, tmp_path):
    batch = client.submit(items(1000), operation="classify", categories=CATEGORIES)
    final = batch.wait(timeout=180)
    assert final["status"] == "completed" and final["completed_items"] == 1000
    assert "1000/1000" in capsys.readouterr().err  # the progress bar, on stderr
    frame = batch.results()
    assert frame.columns[:4] == ["index", "id", "status", "label"] and "confidence" in frame.columns
    assert frame.columns[-3:] == ["error_type", "error_message", "provider"]
    assert frame["provider"].unique().to_list() == ["openai"]  # the simulator stands in for it
    assert_in_order(frame, 1000)
    assert client.batch(batch.id).status()["status"] == "completed"

    path = batch.to_file(tmp_path / "out.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["index"]) for r in rows] == list(range(1000)) and rows[0]["label"] in CATEGORIES
    lines = batch.to_file(tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f"review-{i}" for i in range(1000)]


def test_driver_sync_label_and_its_errors(client, clean_simulator):
    answer = client.label(["great", {"content": "awful", "id": "x-1"}], categories=CATEGORIES)
    assert [r.get("label") in CATEGORIES for r in answer["results"]] == [True, True]
    assert answer["results"][1]["id"] == "x-1" and answer["usage"]["prompt_tokens"] > 0
    summary = client.summarize(["a long call transcript"], summary_instructions="one line")
    assert isinstance(summary["results"][0]["result"], str)

    with pytest.raises(InvalidRequest) as invalid:
        client.label(["x"], categories=[])
    assert invalid.value.field == "categories"
    with pytest.raises(PayloadTooLarge):
        client.label(["x"] * 51, categories=CATEGORIES)
    with pytest.raises(ConfigurationError):
        client.label(["x"], categories=CATEGORIES, model="nowhere/model")
    with pytest.raises(InvalidRequest) as invalid:
        client.submit(items(2), operation="translate")
    assert invalid.value.field == "operation"
    with pytest.raises(NotFound):
        client.batch("batch_doesnotexist123")

    frame = pl.DataFrame({"review": ["great", "awful"], "ref": ["r-0", "r-1"]})
    answer = client.label(frame, categories=CATEGORIES, content_column="review", id_column="ref")
    assert [r["id"] for r in answer["results"]] == ["r-0", "r-1"]
    with pytest.raises(InvalidRequest) as invalid:
        client.label("great", categories=CATEGORIES)  # a string is a file path, for submit() only
    assert invalid.value.field == "items" and "submit()" in invalid.value.message
    other = engine.connect(settings=client.settings, pool_name=POOL)
    other.close()
    with pytest.raises(RuntimeError, match="closed"):
        other.label(["x"], categories=CATEGORIES)


def test_a_batch_left_without_a_coordinator_goes_on_when_a_script_waits_for_it(client, clean_simulator):
    # What a script that returned without waiting leaves: the batch stored, its embedded Ray gone with it.
    batch_id = new_batch_id()
    request = PARAMS["label"].model_validate({"categories": CATEGORIES})
    client.batches.create(batch_id, "label", request, [items_frame(parse_items(items(50)))], client.owner, "driver")
    final = client.batch(batch_id).wait(progress=False, timeout=120)  # once unchanged for ORPHAN_SECONDS
    assert final["status"] == "completed" and final["completed_items"] == 50
    assert_in_order(client.batch(batch_id).results(), 50)


def test_driver_dataframe_input_keeps_metadata_columns(client, clean_simulator):
    frame = pl.DataFrame({"text": [f"review {i}" for i in range(60)], "id": [f"review-{i}" for i in range(60)],
                          "product": ["Widget", "Gadget"] * 30, "stars": list(range(60))})
    # The template needs every metadata field: an item without one would fail instead of completing.
    batch = client.submit(frame, operation="label", categories=CATEGORIES, content_column="text",
                          user_prompt_template="Review of {product} ({stars} stars): {content}")
    assert batch.wait(progress=False, timeout=120)["status"] == "completed"
    assert_in_order(batch.results(), 60)
    stored = pl.read_parquet(client.batches.store.root / "batches" / batch.id / "input" / "*.parquet")
    assert json.loads(stored["metadata"][3]) == {"product": "Gadget", "stars": 3}
    with pytest.raises(InvalidRequest) as invalid:
        client.submit(frame, operation="label", categories=CATEGORIES)
    assert invalid.value.field == "content_column"


def test_driver_file_path_input_and_cancel_of_a_finished_batch(client, clean_simulator, tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"text": f"review {i}", "ref": f"f-{i}"}) + "\n" for i in range(30)))
    batch = client.submit(path, operation="label", categories=CATEGORIES, content_column="text", id_column="ref")
    assert batch.wait(progress=False, timeout=60)["completed_items"] == 30
    assert batch.results()["id"].to_list() == [f"f-{i}" for i in range(30)]
    with pytest.raises(Conflict):
        batch.cancel()
    with pytest.raises(Conflict, match="no failed items"):
        batch.retry()
    assert batch.id in [listed["batch_id"] for listed in client.list_batches()]
    with pytest.raises(InvalidRequest) as invalid:
        client.submit(tmp_path / "missing.csv", operation="label", categories=CATEGORIES)
    assert invalid.value.field == "items" and "no such file" in invalid.value.message


async def test_events_keep_alive_while_queued_then_end_when_finished(client, clean_simulator):
    """status_events over the real BatchService: a batch stored but not launched stays queued."""
    from engine.batch.service import items_frame
    from engine.models import Item, LabelParams
    from engine.store.batch_store import new_batch_id

    batch_id = new_batch_id()
    batches = client.batches
    params = LabelParams(categories=CATEGORIES)
    batches.create(batch_id, "label", params, [items_frame([Item(content="a"), Item(content="b")])], client.owner)
    first = batches.status(batch_id, client.owner)
    stream = status_events(lambda: batches.status(batch_id, client.owner), first, poll_seconds=0.05,
                           keepalive_seconds=0.2)
    received = [await anext(stream) for _ in range(3)]
    assert received[0].startswith(b"event: progress\ndata: {") and received[1:] == [b": keep-alive\n\n"] * 2
    batches.runner.launch(batch_id)
    rest = [chunk async for chunk in stream]
    assert rest[-1].startswith(b"event: end\n")
    assert json.loads(rest[-1].decode().split("data: ", 1)[1])["status"] == "completed"


# ---- the same over HTTP ------------------------------------------------------------


def test_http_batch_of_1000_items_comes_back_as_a_frame_in_order(http, clean_simulator, capsys, tmp_path):
    batch = http.submit(items(1000, "web"), operation="label", categories=CATEGORIES)
    final = batch.wait(timeout=180)  # follows the events stream
    assert final["status"] == "completed" and final["completed_items"] == 1000
    assert "1000/1000" in capsys.readouterr().err
    assert_in_order(batch.results(), 1000, "web")
    rows = list(csv.DictReader(batch.to_file(tmp_path / "web.csv").open(newline="", encoding="utf-8")))
    assert len(rows) == 1000 and rows[999]["id"] == "web-999"
    assert json.loads(batch.to_file(tmp_path / "web.json").read_text())[0]["id"] == "web-0"


def test_http_sync_dataframe_and_errors(http, clean_simulator):
    answer = http.label(["great", "awful"], categories=CATEGORIES)
    assert len(answer["results"]) == 2 and all(r["label"] in CATEGORIES for r in answer["results"])
    frame = pl.DataFrame({"content": ["a", "b", "c"], "id": ["d-0", "d-1", "d-2"], "product": ["W", "G", "W"]})
    batch = http.submit(frame, operation="label", categories=CATEGORIES, user_prompt_template="{product}: {content}")
    assert batch.wait(progress=False, timeout=60)["status"] == "completed"
    assert batch.results()["id"].to_list() == ["d-0", "d-1", "d-2"]

    with pytest.raises(NotFound) as missing:
        http.batch("batch_doesnotexist123").status()
    assert missing.value.status == 404 and missing.value.field == "batch_id"
    with pytest.raises(InvalidRequest) as invalid:
        http.submit(items(2), operation="label", categories=[])
    assert invalid.value.field == "categories" and invalid.value.details
    with pytest.raises(ConfigurationError):
        http.label(["x"], categories=CATEGORIES, model="nowhere/model")


def test_http_file_upload_of_a_small_csv(http, clean_simulator, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,ref,product\n" + "".join(f"review {i},r-{i},Widget\n" for i in range(25)))
    batch = http.submit(path, operation="classify", categories=CATEGORIES, content_column="text", id_column="ref",
                        user_prompt_template="{product}: {content}")
    assert batch.wait(progress=False, timeout=60)["total_items"] == 25
    frame = batch.results()
    assert frame["id"].to_list() == [f"r-{i}" for i in range(25)]
    assert frame["status"].unique().to_list() == ["completed"]


def test_http_events_stream_format(service, http, clean_simulator):
    batch = http.submit(items(5, "sse"), operation="label", categories=CATEGORIES)
    batch.wait(progress=False, timeout=60)
    with httpx.stream("GET", f"{service}/api/batches/{batch.id}/events", timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = [block.split("\n") for block in text.strip().split("\n\n")]
    assert [e[0] for e in events] == ["event: progress", "event: end"]
    assert json.loads(events[-1][1].removeprefix("data: "))["status"] == "completed"
    missing = httpx.get(f"{service}/api/batches/batch_doesnotexist123/events", timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    assert "/api/batches/{batch_id}/events" in httpx.get(f"{service}/openapi.json", timeout=30).json()["paths"]


@pytest.mark.parametrize("column,values,holds", [
    ("blob", [b"\x00\x01", b"\x02"], "Binary"),
    ("tags", [["x"], ["y"]], "List"),
])
def test_driver_refuses_a_column_that_is_not_text_as_an_upload_does(client, http, tmp_path, column, values, holds):
    frame = pl.DataFrame({column: values, "note": ["a", "b"]})
    with pytest.raises(InvalidRequest) as driver:
        client.submit(frame, operation="label", categories=CATEGORIES, content_column=column)
    path = tmp_path / "items.parquet"
    frame.write_parquet(path)
    with pytest.raises(InvalidRequest) as upload:
        http.submit(path, operation="label", categories=CATEGORIES, content_column=column)
    assert driver.value.field == upload.value.field == "content_column"
    assert f"column {column!r} holds {holds}" in driver.value.message
    assert driver.value.message == upload.value.message
