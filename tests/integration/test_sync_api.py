"""The spec's sync examples, sent as written to the real service (Ray Serve + simulator)."""

import httpx
import pytest

pytestmark = pytest.mark.integration

LABEL = {
    "items": [
        {"content": "Customer says product is amazing but delivery was slow"},
        {"content": "Terrible experience, nothing works as advertised"},
        {"content": "Good value for the price, would recommend"},
    ],
    "categories": ["positive", "negative", "mixed"],
    "multi_label": False,
}


def post(service, operation, body):
    return httpx.post(f"{service}/api/completions/{operation}", json=body, timeout=60)


def assert_usage(body):
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_label_single(service, clean_simulator):
    response = post(service, "label", LABEL)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "sim/gpt-4.1-mini"  # nobody mistakes the simulator for a real LLM
    assert len(body["results"]) == 3
    for result in body["results"]:
        assert set(result) == {"label", "confidence", "confidence_source"}
        assert result["label"] in LABEL["categories"]
        assert 0 <= result["confidence"] <= 1
    assert_usage(body)


def test_label_multi(service, clean_simulator):
    response = post(service, "label", {**LABEL, "multi_label": True})
    assert response.status_code == 200
    for result in response.json()["results"]:
        assert set(result) == {"labels", "confidence", "confidence_source"}
        assert set(result["labels"]) <= set(LABEL["categories"])
        assert len(result["labels"]) == len(set(result["labels"]))


def test_summarize_text_and_json(service, clean_simulator):
    body = {
        "items": [{"content": "Full transcript of 45-minute customer call..."}],
        "summary_instructions": "Summarize the key decisions, action items, and any risk signals. Keep under 200 words.",
        "temperature": 0.3,
    }
    text = post(service, "summarize", body).json()
    assert isinstance(text["results"][0]["result"], str) and text["results"][0]["result"]
    structured = post(service, "summarize", {**body, "response_format": {"type": "json_object"}}).json()
    assert isinstance(structured["results"][0]["result"], dict)


def test_extract(service, clean_simulator):
    response = post(service, "extract", {
        "items": [{"content": "Hi, I'm Sarah Chen, VP of Engineering at Acme Corp. "
                              "We're looking to migrate 500 seats by Q3."}],
        "extraction_instructions": "Extract: person_name, title, company, seat_count, timeline",
        "temperature": 0.0,
    })
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert {"person_name", "title", "company", "seat_count", "timeline"} <= set(result)


def test_enrich(service, clean_simulator):
    response = post(service, "enrich", {
        "items": [{"content": "Enterprise SaaS company, 500 employees, Series C",
                   "metadata": {"company": "Acme Corp", "industry": "Technology"}}],
        "fields": [
            {"name": "company_segment", "type": "categorical", "description": "Market segment",
             "valid_values": ["enterprise", "mid-market", "smb"]},
            {"name": "growth_stage", "type": "categorical", "description": "Company growth stage",
             "valid_values": ["seed", "early", "growth", "mature"]},
            {"name": "estimated_arr", "type": "numeric", "description": "Estimated ARR range in millions"},
        ],
        "runtime_categories": {"growth_stage": ["early", "late"]},
        "include_context": True,
    })
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["company_segment"] in ("enterprise", "mid-market", "smb")
    assert result["growth_stage"] in ("early", "late")  # the runtime override wins
    assert isinstance(result["estimated_arr"], (int, float))


def test_run_with_metadata_template_and_ids(service, clean_simulator):
    response = post(service, "run", {
        "items": [{"content": "Customer feedback text...", "metadata": {"product": "Widget"}, "id": "fb-1"}],
        "system_prompt": "You analyze customer feedback for product teams.",
        "user_prompt_template": "About {product}:\n\n{content}\n\nIdentify: 1) Feature requests 2) Pain points",
        "response_format": {"type": "json_object"},
        "model": "openai/gpt-4.1-mini",
        "temperature": 0.2,
    })
    assert response.status_code == 200
    entry = response.json()["results"][0]
    assert entry["id"] == "fb-1" and isinstance(entry["result"], dict)


def test_bad_requests_get_clear_errors(service):
    cases = [
        ("label", {"items": [{"content": "x"}] * 51, "categories": ["a"]}, 413, "items"),
        ("label", {"items": [], "categories": ["a"]}, 422, "items"),
        ("label", {"items": [{"content": 5}], "categories": ["a"]}, 422, "items.0.content"),
        ("run", {"items": [{"content": "x"}], "user_prompt_template": "{missing}"}, 422, "items.0.metadata.missing"),
        ("run", {"items": [{"content": "x"}], "user_prompt_template": "{x.__class__}"}, 422, "user_prompt_template"),
        ("run", {"items": [{"content": "x"}], "model": "nope/model"}, 400, None),
    ]
    for operation, body, status, field in cases:
        response = post(service, operation, body)
        assert response.status_code == status, (operation, body, response.text)
        error = response.json()["error"]
        assert error["message"]
        if field:
            assert error["field"] == field
    malformed = httpx.post(f"{service}/api/completions/label", content=b"{not json", timeout=30)
    assert malformed.status_code == 400 and malformed.json()["error"]["field"] == "body"


@pytest.mark.slow
def test_faulty_provider_still_gives_50_valid_results(service, clean_simulator):
    clean_simulator.configure(error_rate=0.1, bad_json_rate=0.1)
    body = {"items": [{"content": f"review number {i}"} for i in range(50)], "categories": ["good", "bad"]}
    response = post(service, "label", body)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 50
    assert all(r.get("label") in ("good", "bad") for r in results), [r for r in results if "error" in r]
    stats = clean_simulator.stats()
    assert stats["server_errors"] > 0 and stats["bad_json"] > 0  # the faults really happened


def test_openapi_describes_every_endpoint(service):
    document = httpx.get(f"{service}/openapi.json").json()
    for path in ("/api/completions/label", "/api/completions/summarize", "/api/completions/extract",
                 "/api/completions/enrich", "/api/completions/run", "/api/batches",
                 "/api/batches/{batch_id}", "/api/batches/{batch_id}/output", "/api/batches/{batch_id}/cancel"):
        assert path in document["paths"], path
    assert "LabelRequest" in document["components"]["schemas"]
