"""A simulated OpenAI-compatible provider for tests, benchmarks and the quickstart.

`POST /v1/chat/completions` answers like OpenAI's chat completions: requests/min
and tokens/min enforced with about one second of burst (429 with `retry-after`
and `x-ratelimit-*` headers, as the real API quantises its limits), latency
after admission, injected faults (500s, hangs, truncated JSON), and content
valid for the requested `response_format` (see `engine.sim.content`). The
`x-ratelimit-remaining-*` and `-reset-*` headers describe that one-second bucket.

Control endpoints (no auth): `GET /sim/stats`, `POST /sim/reset`,
`POST /sim/config`, `GET /healthz`. Nothing is logged per request: the
simulator must keep up with throughput benchmarks.

Its config and flags are engine.sim.config; its rate limits, engine.sim.limits;
its counters, engine.sim.stats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import sys
import threading
import time
import uuid
from dataclasses import asdict, fields, replace
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.prompt.tokens import estimate_prompt_tokens, estimate_text_tokens
from engine.sim.config import CLI_OPTIONS, SimulatorConfig
from engine.sim.content import generate_content, token_logprobs, truncate_json
from engine.sim.limits import Limits, reset_duration
from engine.sim.noise import confident_logprobs, noisy_answer
from engine.sim.stats import Stats

MODEL_ID = "sim/gpt-4.1-mini"
FORMATS = ("text", "json_object", "json_schema")


def _error(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
           code: str | None = None, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _request_error(body: Any) -> tuple[str, str | None] | None:
    """(message, param) for the first thing OpenAI would refuse in `body`, else None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object.", None
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "You must provide a model parameter.", "model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        return "'messages' must be a non-empty array of objects with a 'role'.", "messages"
    if body.get("stream"):
        return "The simulator does not stream: send stream=false.", "stream"
    fmt = body.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") in FORMATS):
        return f"'response_format.type' must be one of {', '.join(FORMATS)}.", "response_format"
    if fmt and fmt["type"] == "json_schema" and not (
            isinstance(fmt.get("json_schema"), dict) and isinstance(fmt["json_schema"].get("name"), str)):
        return "'response_format.json_schema.name' is required.", "response_format.json_schema"
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (type(value) is not int or value < 1):
            return f"'{key}' must be a positive integer.", key
    temperature = body.get("temperature")
    if temperature is not None and (type(temperature) not in (int, float) or not 0 <= temperature <= 2):
        return "'temperature' must be a number between 0 and 2.", "temperature"
    top = body.get("top_logprobs")
    if top is not None and (type(top) is not int or not 0 <= top <= 20 or not body.get("logprobs")):
        return "'top_logprobs' must be 0..20 and needs logprobs=true.", "top_logprobs"
    return None


class _Simulator:
    def __init__(self, config: SimulatorConfig):
        self.stats = Stats()
        self._apply(config)

    def _apply(self, config: SimulatorConfig) -> None:
        self.config = config
        self.limits = Limits(config.rpm, config.tpm)
        self.rng = random.Random(config.seed)  # faults: per request, not per content
        self.slots = asyncio.Semaphore(config.slots) if config.slots else None

    def _authorized(self, request: Request) -> bool:
        key = self.config.api_key
        return not key or request.headers.get("authorization") == f"Bearer {key}"

    async def chat(self, request: Request) -> JSONResponse:
        self.stats.counts["requests"] += 1
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        problem = _request_error(body)
        if problem:
            return _error(400, problem[0], param=problem[1])
        try:
            content = generate_content(body["messages"], body.get("response_format"))
        except (TypeError, ValueError, AttributeError, KeyError, IndexError):  # a schema we cannot follow
            return _error(400, "Invalid schema for response_format.", param="response_format")
        rate = self.config.noise_of(body["model"])
        confidence = None
        if rate:  # a model configured to be sometimes wrong (and unsure when it is)
            content, confidence, wrong = noisy_answer(content, _schema_of(body.get("response_format")),
                                                      body["messages"], body["model"], rate, self.config.seed)
            self.stats.counts["wrong_answers"] += wrong
        prompt_tokens = estimate_prompt_tokens(body["messages"])
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        charge = prompt_tokens + (max_tokens or estimate_text_tokens(content))
        refusal = self.limits.admit(charge)
        if refusal:
            return self._rate_limited(*refusal, body["model"], charge)
        self.stats.enter()
        try:
            if self.slots is None:
                return await self._answer(body, content, prompt_tokens, confidence)
            async with self.slots:  # beyond the slots, calls wait: latency climbs
                return await self._answer(body, content, prompt_tokens, confidence)
        finally:
            self.stats.leave()

    def _rate_limited(self, limit: str, wait: float, model: str, charge: int) -> JSONResponse:
        self.stats.rate_limited()
        unit = "requests per min (RPM)" if limit == "requests" else "tokens per min (TPM)"
        message = (f"Rate limit reached for {model} on {unit}: requested "
                   f"{1 if limit == 'requests' else charge}. Please try again in {reset_duration(wait)}.")
        headers = {**self.limits.headers(), "retry-after": str(max(1, math.ceil(wait))),
                   "retry-after-ms": str(math.ceil(wait * 1000))}
        return _error(429, message, kind=limit, code="rate_limit_exceeded", headers=headers)

    async def _answer(self, body: dict, content: str, prompt_tokens: int,
                      confidence: float | None = None) -> JSONResponse:
        config, rng = self.config, self.rng
        delay = config.latency_ms + rng.uniform(0, config.latency_jitter_ms)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if rng.random() < config.hang_rate:
            self.stats.counts["hangs"] += 1
            await asyncio.sleep(config.hang_seconds)
        if rng.random() < config.error_rate:
            self.stats.counts["server_errors"] += 1
            return _error(500, "The server had an error while processing your request. Sorry about that!",
                          kind="server_error", headers=self.limits.headers())
        fmt = (body.get("response_format") or {}).get("type", "text")
        if fmt != "text" and rng.random() < config.bad_json_rate:
            self.stats.counts["bad_json"] += 1
            content = truncate_json(content)
        completion_tokens = estimate_text_tokens(content)
        self.stats.counts["prompt_tokens"] += prompt_tokens
        self.stats.counts["completion_tokens"] += completion_tokens
        logprobs = None
        if body.get("logprobs") and config.logprobs:
            tokens = (token_logprobs(content, random.Random(content)) if confidence is None
                      else confident_logprobs(content, confidence))
            logprobs = {"content": tokens}
        return JSONResponse(_completion(body["model"], content, logprobs, prompt_tokens, completion_tokens),
                            headers=self.limits.headers())

    async def models(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "agentflow-simulator"}
        return JSONResponse({"object": "list", "data": [model]})

    async def get_stats(self, request: Request) -> JSONResponse:
        return JSONResponse(self.stats.snapshot())

    async def reset(self, request: Request) -> JSONResponse:
        """Zero the counters and refill the buckets."""
        self.stats.reset()
        self._apply(self.config)
        return JSONResponse(self.stats.snapshot())

    async def configure(self, request: Request) -> JSONResponse:
        try:
            changes = json.loads(await request.body() or b"{}")
            unknown = set(changes) - {f.name for f in fields(SimulatorConfig)}
            if unknown:
                raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
            config = replace(self.config, **changes)
        except (ValueError, TypeError) as exc:  # TypeError: the body is not an object
            return _error(400, str(exc))
        if (config.rpm, config.tpm) != (self.config.rpm, self.config.tpm):
            self.limits = Limits(config.rpm, config.tpm)
        if config.seed != self.config.seed:
            self.rng = random.Random(config.seed)
        self.config = config
        return JSONResponse({k: v for k, v in asdict(config).items() if k != "api_key"})

    async def healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "pid": os.getpid()})


def _schema_of(response_format: Any) -> dict | None:
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema")
    return None


def _completion(model: str, content: str, logprobs: dict | None, prompt_tokens: int,
                completion_tokens: int) -> dict:
    return {
        "id": f"chatcmpl-sim-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "sim/" + model.split("/", 1)[-1],  # never mistaken for a real model's answer
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": None},
            "logprobs": logprobs,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
        "system_fingerprint": "fp_sim",
    }


def create_simulator_app(config: SimulatorConfig) -> Starlette:
    """The simulator as an ASGI app (mount it under uvicorn, or test it with TestClient)."""
    sim = _Simulator(config)
    return Starlette(routes=[
        Route("/v1/chat/completions", sim.chat, methods=["POST"]),
        Route("/v1/models", sim.models, methods=["GET"]),
        Route("/sim/stats", sim.get_stats, methods=["GET"]),
        Route("/sim/reset", sim.reset, methods=["POST"]),
        Route("/sim/config", sim.configure, methods=["POST"]),
        Route("/healthz", sim.healthz, methods=["GET"]),
    ])


def serve(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8300) -> None:
    """Run the simulator under uvicorn until interrupted."""
    # A short graceful shutdown: hung requests would otherwise hold the exit for hang_seconds.
    uvicorn.run(create_simulator_app(config), host=host, port=port, log_level="warning",
                access_log=False, timeout_graceful_shutdown=1)


def main(argv: list[str] | None = None) -> None:
    """`agentflow simulator` / `python -m engine.sim.simulator`."""
    parser = argparse.ArgumentParser(prog="agentflow simulator",
                                     description="Run the simulated OpenAI-compatible provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8300)
    defaults = SimulatorConfig()
    for name, kind, help_text in CLI_OPTIONS:
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(defaults, name), help=help_text)
    parser.add_argument("--logprobs", action="store_true", help="answer logprobs=true requests with logprobs")
    parser.add_argument("--parent-pid", type=int, help="exit when this process (the launcher) is gone")
    args = vars(parser.parse_args(argv))
    host, port, parent_pid = args.pop("host"), args.pop("port"), args.pop("parent_pid")
    try:
        config = SimulatorConfig(**args)
    except ValueError as exc:
        parser.error(str(exc))
    if parent_pid:
        _exit_with_parent(parent_pid)
    print(f"simulator listening on http://{host}:{port}/v1", file=sys.stderr, flush=True)
    serve(config, host, port)


def _exit_with_parent(pid: int) -> None:
    """SIGTERM ourselves once `pid` is no longer our parent: a killed launcher leaves no orphan."""
    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    main()
