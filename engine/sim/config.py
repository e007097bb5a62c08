"""`SimulatorConfig`: how the simulator behaves, and the command-line flags that set it."""

from __future__ import annotations

from dataclasses import dataclass, fields

from engine.sim.noise import parse_noise

RATES = ("error_rate", "hang_rate", "bad_json_rate")


@dataclass
class SimulatorConfig:
    """How the simulator behaves; `rpm`/`tpm` of None (or 0) mean unlimited."""

    rpm: float | None = None
    tpm: float | None = None
    latency_ms: float = 200
    latency_jitter_ms: float = 0
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 30
    bad_json_rate: float = 0.0
    logprobs: bool = False
    seed: int | None = None
    api_key: str | None = None
    slots: int | None = None  # answer this many calls at once, queue the rest (a self-hosted server)
    model_noise: str | None = None  # "name=rate,...": those models answer wrong on a seeded share (engine/sim/noise.py)

    def __post_init__(self):
        self.rpm = self.rpm or None
        self.tpm = self.tpm or None
        for name in ("rpm", "tpm", "latency_ms", "latency_jitter_ms", "hang_seconds", *RATES):
            value = getattr(self, name)
            if value is None and name in ("rpm", "tpm"):
                continue
            if type(value) not in (int, float) or value < 0:
                raise ValueError(f"{name} must be a number >= 0")
        if any(getattr(self, name) > 1 for name in RATES):
            raise ValueError("error_rate, hang_rate and bad_json_rate must be between 0 and 1")
        if self.slots is not None and (type(self.slots) is not int or self.slots < 1):
            raise ValueError("slots must be an integer >= 1")
        self.noise = parse_noise(self.model_noise)

    def noise_of(self, model: str) -> float:
        """The share of wrong answers of `model` (as the request names it; 0 unless configured)."""
        return self.noise.get(model, self.noise.get(model.split("/", 1)[-1], 0.0))

    def to_argv(self) -> list[str]:
        """The command-line flags of `main` that recreate this config."""
        argv: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value is not False:
                flag = "--" + f.name.replace("_", "-")
                argv += [flag] if value is True else [flag, str(value)]
        return argv


CLI_OPTIONS = [  # (field, type, help) of the command line; defaults come from SimulatorConfig
    ("rpm", float, "requests per minute (0 or absent: unlimited)"),
    ("tpm", float, "tokens per minute (0 or absent: unlimited)"),
    ("latency_ms", float, "delay of every admitted call"),
    ("latency_jitter_ms", float, "plus a uniform random delay up to this"),
    ("error_rate", float, "share of calls answered 500"),
    ("hang_rate", float, "share of calls delayed by --hang-seconds"),
    ("hang_seconds", float, None),
    ("bad_json_rate", float, "share of JSON answers truncated"),
    ("seed", int, "seed of the fault draws"),
    ("api_key", str, "require 'Authorization: Bearer <key>'"),
    ("slots", int, "answer at most this many calls at once; the rest queue"),
    ("model_noise", str, "name=rate,...: these models answer wrong on a seeded share of items, unsure"),
]
