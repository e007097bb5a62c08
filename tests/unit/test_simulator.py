import json

import jsonschema
import pytest
from starlette.testclient import TestClient

import engine.sim.simulator as simulator
from engine.sim.simulator import SimulatorConfig, create_simulator_app

SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["pos", "neg"]},
                   "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
    "required": ["label", "confidence"],
    "additionalProperties": False,
}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "classification", "schema": SCHEMA, "strict": True}}
URL = "/v1/chat/completions"


def client(**config) -> TestClient:
    return TestClient(create_simulator_app(SimulatorConfig(latency_ms=0, **config)))


def body(text: str = "I loved it", **extra) -> dict:
    return {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": text}], **extra}


def test_completion_round_trip():
    response = client().post(URL, json=body(response_format=JSON_SCHEMA, temperature=0))
    assert response.status_code == 200
    data = response.json()
    assert data["id"].startswith("chatcmpl-sim-") and data["object"] == "chat.completion"
    assert data["model"] == "sim/gpt-4.1-mini"
    choice = data["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["logprobs"] is None
    assert choice["message"]["role"] == "assistant" and choice["message"]["refusal"] is None
    jsonschema.validate(json.loads(choice["message"]["content"]), SCHEMA)
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert not any(name.startswith("x-ratelimit") for name in response.headers)


def test_model_without_provider_prefix_is_also_marked_simulated():
    response = client().post(URL, json={**body(), "model": "gpt-4.1-mini"})
    assert response.json()["model"] == "sim/gpt-4.1-mini"


def test_over_rpm_is_429_with_retry_after_and_limit_headers():
    sim = client(rpm=60)
    first = sim.post(URL, json=body())
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "60"
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    second = sim.post(URL, json=body())
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) >= 1
    assert 0 < int(second.headers["retry-after-ms"]) <= 1000
    assert second.headers["x-ratelimit-limit-requests"] == "60"
    assert second.headers["x-ratelimit-reset-requests"].endswith("ms")
    assert second.json()["error"]["type"] == "requests"
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
    stats = sim.get("/sim/stats").json()
    assert (stats["requests"], stats["accepted"], stats["rate_limited"]) == (2, 1, 1)
    assert stats["timeline"][0] == {"second": 0, "accepted": 1, "rate_limited": 1, "in_flight_max": 1}


def test_tpm_charges_max_tokens_and_a_refusal_takes_nothing():
    sim = client(rpm=120, tpm=6000)  # bursts: 2 requests, 100 tokens
    assert sim.post(URL, json=body(max_tokens=80)).status_code == 200
    refused = sim.post(URL, json=body(max_tokens=80))
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "tokens"
    assert refused.headers["x-ratelimit-limit-tokens"] == "6000"
    assert refused.headers["x-ratelimit-remaining-requests"] == "1"  # the refused call took no request
    assert sim.post(URL, json=body(max_tokens=1)).status_code == 200


def test_a_call_larger_than_the_token_burst_passes_when_the_bucket_is_full():
    sim = client(tpm=600)  # a burst of 10 tokens
    assert sim.post(URL, json=body(max_tokens=50)).status_code == 200
    refused = sim.post(URL, json=body(max_tokens=1))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 4  # the big call left the bucket in debt


def test_error_rate_one_gives_500():
    sim = client(error_rate=1.0)
    response = sim.post(URL, json=body())
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert sim.get("/sim/stats").json()["server_errors"] == 1


def test_bad_json_rate_one_truncates_json_content_only():
    sim = client(bad_json_rate=1.0)
    content = sim.post(URL, json=body(response_format=JSON_SCHEMA)).json()["choices"][0]["message"]["content"]
    with pytest.raises(ValueError):
        json.loads(content)
    text = sim.post(URL, json=body()).json()["choices"][0]["message"]["content"]
    assert text.startswith("Summary:")
    assert sim.get("/sim/stats").json()["bad_json"] == 1


def test_hang_rate_delays_the_answer():
    sim = client(hang_rate=1.0, hang_seconds=0.01)
    assert sim.post(URL, json=body()).status_code == 200
    assert sim.get("/sim/stats").json()["hangs"] == 1


@pytest.mark.parametrize("enabled, requested, present", [(True, True, True), (True, False, False),
                                                         (False, True, False)])
def test_logprobs_only_when_requested_and_enabled(enabled, requested, present):
    response = client(logprobs=enabled).post(URL, json=body(logprobs=requested))
    logprobs = response.json()["choices"][0]["logprobs"]
    assert (logprobs is not None) == present
    if present:
        content = response.json()["choices"][0]["message"]["content"]
        assert "".join(entry["token"] for entry in logprobs["content"]) == content


@pytest.mark.parametrize("payload, param", [
    (b"{not json", None),
    (b"[1, 2]", None),
    (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), "model"),
    (json.dumps({"model": "m", "messages": []}).encode(), "messages"),
    (json.dumps(body(stream=True)).encode(), "stream"),
    (json.dumps(body(response_format={"type": "xml"})).encode(), "response_format"),
    (json.dumps(body(response_format={"type": "json_schema"})).encode(), "response_format.json_schema"),
    (json.dumps(body(response_format={"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "properties": {"a": {"type": "array", "minItems": "two"}}}}})).encode(),
     "response_format"),
    (json.dumps(body(max_tokens=0)).encode(), "max_tokens"),
    (json.dumps(body(temperature=3)).encode(), "temperature"),
])
def test_malformed_body_is_400_in_openai_shape(payload, param):
    response = client().post(URL, content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


def test_api_key_is_required_when_configured():
    sim = client(api_key="secret")
    assert sim.post(URL, json=body()).status_code == 401
    assert sim.post(URL, json=body(), headers={"authorization": "Bearer wrong"}).status_code == 401
    assert sim.post(URL, json=body(), headers={"authorization": "Bearer secret"}).status_code == 200


def test_models_lists_the_simulated_model():
    assert [m["id"] for m in client().get("/v1/models").json()["data"]] == ["sim/gpt-4.1-mini"]
    assert client().get("/healthz").status_code == 200


def test_config_updates_the_running_simulator_and_reset_zeroes_counters():
    sim = client()
    assert sim.post(URL, json=body()).status_code == 200
    updated = sim.post("/sim/config", json={"rpm": 60, "error_rate": 0.0}).json()
    assert updated["rpm"] == 60 and "api_key" not in updated
    assert sim.post(URL, json=body()).status_code == 200
    assert sim.post(URL, json=body()).status_code == 429  # the new bucket holds one second: one call
    stats = sim.get("/sim/stats").json()
    assert (stats["requests"], stats["accepted"], stats["rate_limited"]) == (3, 2, 1)
    assert stats["prompt_tokens"] > 0 and stats["max_in_flight"] == 1
    assert sim.post("/sim/config", json={"rpm": 0}).json()["rpm"] is None
    assert sim.post("/sim/reset").status_code == 200
    stats = sim.get("/sim/stats").json()
    assert stats["requests"] == 0 and stats["timeline"] == []


@pytest.mark.parametrize("payload", [{"nope": 1}, {"error_rate": 2}, {"latency_ms": "fast"}, [1]])
def test_config_rejects_unknown_fields_and_bad_values(payload):
    assert client().post("/sim/config", json=payload).status_code == 400


def test_command_line_recreates_the_config(monkeypatch):
    served = []
    monkeypatch.setattr(simulator, "serve", lambda config, host, port: served.append((config, host, port)))
    config = SimulatorConfig(rpm=60, tpm=1000, latency_ms=5, error_rate=0.1, logprobs=True, seed=3, api_key="k",
                             slots=4)
    simulator.main(["--port", "9999", *config.to_argv()])
    assert served == [(config, "127.0.0.1", 9999)]


def test_calls_beyond_the_slots_queue():
    import asyncio
    import time

    import httpx

    app = create_simulator_app(SimulatorConfig(latency_ms=50, slots=2))

    async def six_at_once() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
            started = time.monotonic()
            answers = await asyncio.gather(*(http.post(URL, json=body()) for _ in range(6)))
            assert all(answer.status_code == 200 for answer in answers)
            return time.monotonic() - started

    assert asyncio.run(six_at_once()) >= 0.15  # three waves of two: a sleep is never shorter


def test_slots_must_be_a_positive_integer():
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="slots"):
            SimulatorConfig(slots=bad)
