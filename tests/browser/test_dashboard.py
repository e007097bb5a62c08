"""The dashboard at `/`, in headless chromium, against the real service on Ray Serve."""

import csv
import io
import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
import ray
from playwright.sync_api import expect

from engine.batch.service import BatchService
from engine.batch.sync import SyncService
from engine.ray.actors import RayBatchRunner, RayCallerPool
from engine.store.batch_store import BatchStore
from serve_app.api import create_app
from tests.fixtures import ThreadServer, service_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The README's screenshot: DASHBOARD_SCREENSHOT=docs/dashboard.png refreshes it (not on every run).
SCREENSHOT = os.environ.get("DASHBOARD_SCREENSHOT")
CATEGORIES = ["positive", "negative", "mixed"]

# Every value the progress bar takes, to show it moved while the page watched.
RECORD_PROGRESS = """
window.__progress = [];
new MutationObserver((changes) => {
  for (const change of changes) window.__progress.push(Number(change.target.getAttribute('aria-valuenow')));
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['aria-valuenow']});
"""


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "content"])
        writer.writerows(rows)
    return path


def submit(url: str, n: int, headers: dict | None = None) -> str:
    body = {"operation": "classify", "categories": CATEGORIES,
            "items": [{"content": f"review {i}: {'great' if i % 2 else 'awful'} product"} for i in range(n)]}
    response = httpx.post(f"{url}/api/batches", json=body, headers=headers, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["batch_id"]


def status_of(url: str, batch_id: str, headers: dict | None = None) -> dict:
    return httpx.get(f"{url}/api/batches/{batch_id}", headers=headers, timeout=30).json()


def wait_for_progress(bar, at_least: float, timeout: float = 60) -> None:
    """Until the bar shows `at_least` percent (page.wait_for_function would need eval, which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while float(bar.get_attribute("aria-valuenow") or 0) < at_least:
        assert time.monotonic() < deadline, f"progress stuck at {bar.get_attribute('aria-valuenow')}%"
        time.sleep(0.1)


def test_upload_a_csv_watch_it_finish_and_download_the_csv(service, clean_simulator, page, tmp_path):
    clean_simulator.configure(latency_ms=300)  # slow enough for the bar to be seen moving
    rows = [(f"r-{i}", f"review {i}: {'great' if i % 2 else 'awful'} product") for i in range(400)]
    source = write_csv(tmp_path / "reviews.csv", rows)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.add_init_script(RECORD_PROGRESS)

    page.goto(f"{service}/#/new")
    page.set_input_files("input[name=file]", source)
    page.select_option("select[name=operation]", "classify")
    page.fill("input[name=categories]", ", ".join(CATEGORIES))
    page.fill("input[name=id_column]", "id")
    page.click("button[type=submit]")

    page.wait_for_url(re.compile(r"#/batches/batch_"))
    batch_id = page.url.rsplit("/", 1)[-1]
    expect(page.locator("main [role=progressbar]")).to_have_attribute("aria-valuenow", "100", timeout=120_000)
    expect(page.locator("main .badge")).to_have_text("completed")
    expect(page.locator("[data-stat=completed] .stat-value")).to_have_text("400")
    expect(page.locator("[data-stat=pending] .stat-value")).to_have_text("0")
    seen = page.evaluate("window.__progress")
    assert any(0 < value < 100 for value in seen), seen  # live updates moved the bar while it ran
    # Live updates came from the event stream, not from polling the status.
    assert any(url.endswith(f"/api/batches/{batch_id}/events") for url in requests)
    assert sum(url.endswith(f"/api/batches/{batch_id}") for url in requests) <= 2, requests

    with page.expect_download() as download_info:
        page.click("a[data-format=csv]")
    download = download_info.value
    assert download.suggested_filename == f"{batch_id}.csv"
    records = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert [(r["index"], r["id"], r["status"]) for r in records] == [
        (str(i), f"r-{i}", "completed") for i in range(len(rows))]
    assert {r["label"] for r in records} <= set(CATEGORIES)

    page.click("text=← All batches")
    row = page.locator(f"tr[data-batch-id='{batch_id}']")
    expect(row.locator(".badge")).to_have_text("completed")
    expect(row.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")


def test_cancel_a_running_batch_from_its_page(service, clean_simulator, page, tmp_path):
    clean_simulator.configure(latency_ms=500)
    batch_id = submit(service, 4000)
    page.goto(f"{service}/#/batches/{batch_id}")
    expect(page.locator("main .badge")).to_have_text("processing", timeout=60_000)
    expect(page.locator(".live")).to_have_text("Live")
    wait_for_progress(page.locator("main [role=progressbar]"), at_least=5)

    page.click("text=Cancel batch")
    expect(page.locator("main .badge")).to_have_text("cancelled", timeout=60_000)
    final = status_of(service, batch_id)
    assert final["status"] == "cancelled"
    assert final["cancelled_items"] > 0
    assert final["completed_items"] + final["failed_items"] + final["cancelled_items"] == 4000
    expect(page.locator("[data-stat=cancelled] .stat-value")).to_have_text(f"{final['cancelled_items']:,}")
    expect(page.locator("[data-stat=completed] .stat-value")).to_have_text(f"{final['completed_items']:,}")
    expect(page.get_by_role("button", name="Cancel batch")).to_be_disabled()


def test_api_errors_show_their_message(service, page, tmp_path):
    page.goto(f"{service}/#/new")
    page.set_input_files("input[name=file]", write_csv(tmp_path / "few.csv", [("a", "text")]))
    page.select_option("select[name=operation]", "enrich")
    page.fill("textarea[name=fields]", "[not json")
    page.click("button[type=submit]")
    expect(page.locator("#flash .alert-error").first).to_contain_text("fields is not valid JSON")

    missing = "batch_0000000000000000000000"
    answer = httpx.get(f"{service}/api/batches/{missing}", timeout=30)
    assert answer.status_code == 404
    page.goto(f"{service}/#/batches/{missing}")
    expect(page.locator("#flash .alert-error span")).to_have_text(answer.json()["error"]["message"])


@pytest.fixture
def keyed_service(ray_session, simulator, tmp_path):
    """A service of its own with API keys on (own pool and coordinators), under uvicorn on loopback."""
    settings = service_settings(simulator, tmp_path, AGENTFLOW_API_KEYS="key-alice,key-bob")
    pool = RayCallerPool(settings, pool_name="dashkeys")
    batches = BatchService(settings, BatchStore(settings.store), RayBatchRunner(settings, "dashkeys"))
    with ThreadServer(create_app(SyncService(settings, pool), batches)) as server:
        yield server.url
    pool.kill()
    ray.kill(ray.get_actor("dashkeys-limiter-openai", namespace="agentflow"), no_restart=True)


def test_with_api_keys_the_page_asks_for_one_and_shows_only_its_batches(keyed_service, clean_simulator, page):
    alice, bob = {"authorization": "Bearer key-alice"}, {"authorization": "Bearer key-bob"}
    mine, theirs = submit(keyed_service, 5, alice), submit(keyed_service, 5, bob)

    page.goto(f"{keyed_service}/")
    form = page.locator("#key-form")
    expect(form).to_contain_text("missing API key")
    page.fill("#api-key", "not-a-key")
    page.click("#key-form button[type=submit]")
    expect(form).to_contain_text("invalid API key")
    page.fill("#api-key", "key-alice")
    page.click("#key-form button[type=submit]")

    expect(page.locator(f"tr[data-batch-id='{mine}']")).to_be_visible()
    expect(page.locator(f"tr[data-batch-id='{theirs}']")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('agentflow.apiKey')") == "key-alice"

    page.click(f"a[href='#/batches/{mine}']")
    expect(page.locator("main .badge")).to_have_text("completed", timeout=60_000)
    with page.expect_download() as download_info:  # fetched with the header, saved from a Blob
        page.click("a[data-format=csv]")
    records = list(csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8"))))
    assert len(records) == 5 and {r["status"] for r in records} == {"completed"}
    assert status_of(keyed_service, mine, alice)["status"] == "completed"


def test_failed_items_are_shown_with_their_errors_and_can_be_retried(service, clean_simulator, page):
    clean_simulator.configure(bad_json_rate=0.9)  # most items exhaust their repairs and fail
    batch_id = submit(service, 30)
    page.goto(f"{service}/#/batches/{batch_id}")
    expect(page.locator("main .badge")).to_have_text(re.compile("completed|failed"), timeout=60_000)
    first = status_of(service, batch_id)
    assert first["failed_items"] > 0, first
    failures = page.locator("#failures tbody tr")
    expect(failures).to_have_count(min(first["failed_items"], 20))
    expect(failures.first.locator("td.message")).not_to_be_empty()
    expect(page.locator("[data-stat=failed] .stat-value")).to_have_text(str(first["failed_items"]))

    clean_simulator.configure(bad_json_rate=0.0)
    page.get_by_role("button", name="Retry failed items").click()
    expect(page.locator("[data-stat=failed] .stat-value")).to_have_text("0", timeout=60_000)
    expect(page.locator("main .badge")).to_have_text("completed")
    expect(page.locator("#failures")).to_be_hidden()
    assert status_of(service, batch_id)["completed_items"] == 30


def test_a_finished_batch_shows_a_preview_a_label_chart_and_its_errors_by_type(service, clean_simulator, page,
                                                                                tmp_path):
    clean_simulator.configure(bad_json_rate=0.6)  # some items exhaust their repairs and fail
    header = ["review_id", "review", "product", "stars"]
    rows = [[f"r-{i}", f"review {i}: {'great' if i % 2 else 'awful'} product", f"p-{i % 3}", str(i % 5 + 1)]
            for i in range(60)]
    data = "\n".join(",".join(row) for row in [header, *rows]) + "\n"
    created = httpx.post(f"{service}/api/files", files={"file": ("reviews.csv", data)}, timeout=60, data={
        "operation": "classify", "categories": ",".join(CATEGORIES), "content_column": "review",
        "id_column": "review_id"})
    assert created.status_code == 201, created.text
    batch_id = created.json()["batch_id"]

    page.goto(f"{service}/#/batches/{batch_id}")
    expect(page.locator("main .badge").first).to_have_text(re.compile("completed|failed"), timeout=120_000)
    final = status_of(service, batch_id)
    assert final["failed_items"] > 0 and final["completed_items"] > 0, final

    preview = page.locator("#preview table.preview")
    expect(preview.locator("thead th")).to_have_text(["#", *header, "label", "confidence", "confidence_source", "status", "error"])
    expect(preview.locator("tbody tr")).to_have_count(20)
    expect(preview.locator("tbody tr").first.locator("td")).to_contain_text(["0", *rows[0]])
    page.click("#preview button:text('Next →')")
    expect(page.locator("#preview-range")).to_have_text("items 21–40 of 60")
    expect(preview.locator("tbody tr").first.locator("td").nth(1)).to_have_text("r-20")

    summary = httpx.get(f"{service}/api/batches/{batch_id}/summary", timeout=30).json()
    counts = {c["value"]: c["items"] for c in summary["values"][0]["counts"]}
    assert sum(counts.values()) == final["completed_items"]
    chart = page.locator(".value-chart[data-field=label]")
    for label, items in counts.items():
        expect(chart.locator(f".bar-row[data-value='{label}'] .bar-count")).to_contain_text(f"{items:,}")
    expect(page.locator(".rate-chart polyline")).to_have_count(1)

    groups = page.locator("#error-groups tbody tr")
    expect(groups).to_have_count(len(summary["errors"]))
    first = summary["errors"][0]
    expect(groups.first.locator("td").nth(0)).to_have_text(first["type"])
    expect(groups.first.locator("td").nth(1)).to_have_text(f"{first['items']:,}")

    screenshot = tmp_path / "dashboard.png"
    page.evaluate("window.scrollTo(0, 0)")  # scrolled by the click, a full-page shot draws the sticky bar mid-page
    page.screenshot(path=screenshot, full_page=True)
    if SCREENSHOT:
        shutil.copyfile(screenshot, SCREENSHOT)
