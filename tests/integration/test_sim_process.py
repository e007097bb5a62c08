"""The simulator in its own process, spoken to by the official `openai` package."""

import json
import os
import subprocess
import sys
import time
from typing import Literal

import openai
import pytest
from pydantic import BaseModel, Field

from engine.sim.process import SimulatorProcess
from engine.sim.simulator import SimulatorConfig

pytestmark = pytest.mark.integration

SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["pos", "neg"]},
                   "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
    "required": ["label", "confidence"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "system", "content": "You classify reviews."},
            {"role": "user", "content": "<item>\nGreat phone, the battery lasts two days.\n</item>"}]


class Review(BaseModel):
    sentiment: Literal["pos", "neg", "mixed"]
    confidence: float = Field(ge=0, le=1)
    topics: list[str]


@pytest.fixture(scope="module")
def sim():
    with SimulatorProcess.start(SimulatorConfig(latency_ms=5, logprobs=True)) as process:
        yield process


@pytest.fixture
def client(sim):
    sim.configure(rpm=None, tpm=None, error_rate=0.0)
    sim.reset()
    with openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0) as client:
        yield client


def test_openai_parses_a_json_schema_completion(client, sim):
    completion = client.chat.completions.create(
        model="gpt-4.1-mini", messages=MESSAGES,
        response_format={"type": "json_schema", "json_schema": {"name": "label", "schema": SCHEMA, "strict": True}},
    )
    assert completion.model == "sim/gpt-4.1-mini"
    assert completion.choices[0].finish_reason == "stop"
    value = json.loads(completion.choices[0].message.content)
    assert value["label"] in ("pos", "neg") and 0 <= value["confidence"] <= 1
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert sim.stats()["accepted"] == 1


def test_openai_parses_a_text_completion_with_logprobs(client):
    completion = client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES, logprobs=True)
    choice = completion.choices[0]
    assert choice.message.content.startswith("Summary: Great phone")
    assert "".join(token.token for token in choice.logprobs.content) == choice.message.content


def test_openai_structured_output_helper_parses_into_a_pydantic_model(client):
    completion = client.chat.completions.parse(model="gpt-4.1-mini", messages=MESSAGES, response_format=Review)
    review = completion.choices[0].message.parsed
    assert isinstance(review, Review)


def test_openai_raises_its_own_errors_for_429_and_500(client, sim):
    sim.configure(rpm=60)
    client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)
    assert limited.value.code == "rate_limit_exceeded"
    assert int(limited.value.response.headers["retry-after"]) >= 1
    sim.configure(rpm=None, error_rate=1.0)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)


def test_models_endpoint(client):
    assert [model.id for model in client.models.list()] == ["sim/gpt-4.1-mini"]


def test_stop_ends_the_process():
    process = SimulatorProcess.start(SimulatorConfig(latency_ms=0))
    process.stop()
    assert not alive(process.pid)


def test_the_simulator_exits_when_its_launcher_is_killed():
    launcher = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from engine.sim.process import SimulatorProcess\nfrom engine.sim.simulator import SimulatorConfig\n"
         "sim = SimulatorProcess.start(SimulatorConfig(latency_ms=0))\nprint(sim.pid, flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        sim_pid = int(launcher.stdout.readline())
    finally:
        launcher.kill()
        launcher.wait()
        launcher.stdout.close()
    deadline = time.monotonic() + 10
    while alive(sim_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(sim_pid), f"the orphaned simulator {sim_pid} is still running"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # an exited orphan is a zombie until its new parent reaps it
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
