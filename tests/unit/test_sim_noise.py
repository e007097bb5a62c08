"""The simulator's noisy model (engine/sim/noise.py), through the simulator app: seeded, its own, unsure when wrong."""

import pytest
from starlette.testclient import TestClient

from engine.models import EnrichParams, LabelParams
from engine.prompt.confidence import answer_confidence
from engine.prompt.exchange import build_messages, parse_result, request_body
from engine.prompt.operations import prepare
from engine.sim.config import SimulatorConfig
from engine.sim.noise import parse_noise
from engine.sim.simulator import create_simulator_app

LABEL = prepare("label", LabelParams(categories=["a", "b", "c"]))


def answers(client, plan, model: str, count: int):
    got = []
    for i in range(count):
        body = request_body(plan, model, build_messages(plan, {"content": f"review number {i}"}), True)
        choice = client.post("/v1/chat/completions", json=body).json()["choices"][0]
        raw, tokens = choice["message"]["content"], choice["logprobs"]["content"]
        result = parse_result(plan, raw, tokens)
        got.append((result, answer_confidence(plan.operation, result, raw, tokens)))
    return got


def sim(**config):
    return TestClient(create_simulator_app(SimulatorConfig(logprobs=True, latency_ms=0, **config)))


def test_a_noisy_model_disagrees_on_about_its_rate_and_is_unsure_when_it_does():
    client = sim(model_noise="nano=0.1", seed=7)
    cheap, strong = answers(client, LABEL, "nano", 250), answers(client, LABEL, "big", 250)
    disagree = [(c, s) for c, s in zip(cheap, strong) if c[0]["label"] != s[0]["label"]]
    assert 0.06 < len(disagree) / 250 < 0.14
    assert client.get("/sim/stats").json()["wrong_answers"] == len(disagree)
    assert max(c[1] for c, _ in disagree) <= 0.85  # unsure when wrong
    assert min(c[1] for c, s in zip(cheap, strong) if c[0]["label"] == s[0]["label"]) >= 0.2
    assert sum(c[1] >= 0.8 for c, s in zip(cheap, strong) if c[0]["label"] == s[0]["label"]) > 180
    assert all(c[0]["confidence_source"] == "logprobs" for c in cheap)
    # The same request is always answered the same way; another seed draws other items.
    assert answers(client, LABEL, "nano", 250) == cheap
    other = answers(sim(model_noise="nano=0.1", seed=8), LABEL, "nano", 250)
    assert [a[0]["label"] for a in other] != [a[0]["label"] for a in cheap]


def test_an_enrich_answer_gets_the_confidence_of_its_categorical_fields():
    plan = prepare("enrich", EnrichParams(fields=[
        {"name": "segment", "type": "categorical", "valid_values": ["smb", "mid", "ent"]},
        {"name": "employees", "type": "integer"}]))
    client = sim(model_noise="nano=0.5", seed=1)
    cheap, strong = answers(client, plan, "nano", 60), answers(client, plan, "big", 60)
    wrong = 0
    for (c, confidence), (s, _) in zip(cheap, strong):
        assert c["employees"] == s["employees"]  # only enum fields are made wrong
        if c["segment"] == s["segment"]:
            assert confidence >= 0.8  # a right answer is sure (an enum flip always changes the value)
        else:
            wrong += 1
            assert confidence <= 0.85
    assert 15 < wrong < 45


def test_noise_settings_are_checked():
    assert parse_noise("nano=0.1, mini=0") == {"nano": 0.1, "mini": 0.0}
    assert parse_noise(None) == {}
    for bad in ("nano", "nano=2", "=0.1", "nano=x"):
        with pytest.raises(ValueError, match="model_noise"):
            SimulatorConfig(model_noise=bad)
    assert SimulatorConfig(model_noise="nano=0.2").noise_of("cheap/nano") == 0.2
    assert "--model-noise" in SimulatorConfig(model_noise="nano=0.2").to_argv()
