"""Settings: every environment variable AgentFlow reads, in one place.

`Settings.from_env(environ)` takes a mapping so tests pass a dict. The README's
configuration table lists the same variables.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from typing import Mapping

from engine.errors import ConfigurationError
from engine.limits import Limits
from engine.pricing import PriceTable, parse_prices

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# How a provider takes structured output (engine/provider/dialects.py); auto: found by the engine.
DIALECTS = ("auto", "json_schema", "llama_cpp", "vllm", "vllm_guided", "ollama", "json_object", "prompt")


@dataclass(frozen=True)
class ProviderConfig:
    """An OpenAI-compatible endpoint that serves `name/...` models."""

    name: str
    base_url: str
    api_key: str | None
    limits: Limits = Limits()
    dialect: str = "auto"  # one of DIALECTS
    logprobs: bool = False
    simulated: bool = False
    max_concurrency: int | None = None  # requests in flight; None: found adaptively
    # Where items go while this provider is out (engine/provider/fallback.py), in order:
    # (provider name, its model name or None for the same model name as asked of this one).
    fallbacks: tuple[tuple[str, str | None], ...] = ()

    @property
    def json_schema(self) -> bool:
        """Whether it is sent response_format json_schema (the capability flag older configs set)."""
        return self.dialect in ("auto", "json_schema")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    store: str = "./.agentflow"
    default_model: str = "openai/gpt-4.1-mini"
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    simulator: str = "auto"  # auto: start the simulator when no provider key is set; off: never
    callers: int = 2
    caller_concurrency: int = 256
    request_timeout: float = 60.0
    max_retries: int = 4
    max_repairs: int = 3  # 4 answers in all: at a 10% rate of broken JSON, 1 item in 10,000 fails
    api_keys: tuple[str, ...] = ()
    retention_days: float = 30.0
    max_body_bytes: int = 64 * 1024 * 1024
    max_upload_bytes: int = 100 * 1024 * 1024
    prices: PriceTable = field(default_factory=PriceTable)
    cache_default: bool = False
    fallback_cooldown: float = 30.0  # seconds an open circuit waits before it lets a probe through

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        providers = {"openai": _openai_provider(env)}
        providers.update(_extra_providers(env))
        return cls(
            host=env.get("AGENTFLOW_HOST", cls.host),
            port=_int(env, "AGENTFLOW_PORT", cls.port),
            store=env.get("AGENTFLOW_STORE", cls.store),
            default_model=env.get("AGENTFLOW_DEFAULT_MODEL", cls.default_model),
            providers=providers,
            simulator=env.get("AGENTFLOW_SIMULATOR", cls.simulator),
            callers=_int(env, "AGENTFLOW_CALLERS", cls.callers),
            caller_concurrency=_int(env, "AGENTFLOW_CALLER_CONCURRENCY", cls.caller_concurrency),
            request_timeout=_float(env, "AGENTFLOW_REQUEST_TIMEOUT", cls.request_timeout),
            max_retries=_int(env, "AGENTFLOW_MAX_RETRIES", cls.max_retries),
            max_repairs=_int(env, "AGENTFLOW_MAX_REPAIRS", cls.max_repairs),
            api_keys=_api_keys(env.get("AGENTFLOW_API_KEYS", "")),
            retention_days=_float(env, "AGENTFLOW_RETENTION_DAYS", cls.retention_days),
            max_body_bytes=_int(env, "AGENTFLOW_MAX_BODY_BYTES", cls.max_body_bytes),
            max_upload_bytes=_int(env, "AGENTFLOW_MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            prices=_prices(env.get("AGENTFLOW_PRICES", "")),
            cache_default=env.get("AGENTFLOW_CACHE", "").strip().lower() in ("1", "true", "yes"),
            fallback_cooldown=_float(env, "AGENTFLOW_FALLBACK_COOLDOWN", cls.fallback_cooldown),
        )

    @property
    def needs_simulator(self) -> bool:
        """No key for the default provider, and the simulator is allowed to stand in."""
        provider = self.providers.get(self.default_model.split("/", 1)[0])
        return self.simulator != "off" and provider is not None and not provider.api_key

    def with_simulator(self, base_url: str) -> "Settings":
        """Route the default provider to a running simulator."""
        name = self.default_model.split("/", 1)[0]
        provider = replace(self.providers[name], base_url=base_url, api_key="simulated", simulated=True, logprobs=True)
        return replace(self, providers={**self.providers, name: provider})

    def resolve(self, model: str | None) -> tuple[ProviderConfig, str]:
        """`provider/model` -> (provider, the provider's own model name)."""
        model = model or self.default_model
        name, sep, model_name = model.partition("/")
        if not sep or not model_name:
            raise ConfigurationError(f"model {model!r} must look like provider/model, e.g. openai/gpt-4.1-mini",
                                     field="model")
        provider = self.providers.get(name)
        if provider is None:
            known = ", ".join(sorted(self.providers))
            raise ConfigurationError(
                f"unknown provider {name!r} (known: {known}); add it with AGENTFLOW_PROVIDERS", field="model"
            )
        if not provider.api_key:
            variable = "OPENAI_API_KEY" if name == "openai" else f"the api_key_env of provider {name!r}"
            raise ConfigurationError(f"no API key for provider {name!r}: set {variable}", field="model")
        return provider, model_name


def _openai_provider(env: Mapping[str, str]) -> ProviderConfig:
    base_url = (env.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE_URL).rstrip("/")
    return ProviderConfig(
        name="openai",
        base_url=base_url,
        api_key=env.get("OPENAI_API_KEY") or None,
        limits=Limits(_float(env, "AGENTFLOW_RPM", None), _float(env, "AGENTFLOW_TPM", None)),
        # OpenAI itself takes json_schema; another server behind OPENAI_BASE_URL is found out.
        dialect="json_schema" if base_url == OPENAI_DEFAULT_BASE_URL else "auto",
        logprobs=True,
    )


def _extra_providers(env: Mapping[str, str]) -> dict[str, ProviderConfig]:
    """AGENTFLOW_PROVIDERS: JSON {name: {base_url, api_key_env?, rpm?, tpm?, dialect?, json_schema?, logprobs?,
    max_concurrency?, fallbacks?}}."""
    raw = env.get("AGENTFLOW_PROVIDERS", "").strip()
    if not raw:
        return {}
    try:
        table = json.loads(raw)
        providers = {name: _provider(name, spec, env) for name, spec in table.items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigurationError(f"AGENTFLOW_PROVIDERS is not valid: {exc}") from None
    for provider in providers.values():
        _check_fallbacks(provider, {"openai", *providers})
    return providers


def _provider(name: str, spec: dict, env: Mapping[str, str]) -> ProviderConfig:
    key_env = spec.get("api_key_env")
    return ProviderConfig(
        name=name,
        base_url=spec["base_url"].rstrip("/"),
        # Local servers (Ollama, vLLM) often need no key; "none" stands in for it.
        api_key=env.get(key_env) if key_env else "none",
        limits=Limits(spec.get("rpm"), spec.get("tpm")),
        dialect=_dialect(name, spec),
        logprobs=bool(spec.get("logprobs", False)),
        max_concurrency=_max_concurrency(name, spec.get("max_concurrency")),
        fallbacks=_fallbacks(name, spec.get("fallbacks", [])),
    )


def _fallbacks(name: str, value) -> tuple[tuple[str, str | None], ...]:
    """["other", "local/llama3"]: a provider name (the same model name there), or provider/model."""
    if not isinstance(value, list) or not all(isinstance(entry, str) and entry.strip("/") for entry in value):
        raise ConfigurationError(f"AGENTFLOW_PROVIDERS: {name}.fallbacks must be a list of provider names, "
                                 f"not {value!r}", field=f"AGENTFLOW_PROVIDERS.{name}.fallbacks")
    entries = []
    for entry in value:
        provider, _, model = entry.partition("/")
        entries.append((provider, model or None))
    return tuple(entries)


def _check_fallbacks(provider: ProviderConfig, known: set[str]) -> None:
    field = f"AGENTFLOW_PROVIDERS.{provider.name}.fallbacks"
    for other, _ in provider.fallbacks:
        if other == provider.name:
            raise ConfigurationError(f"{field}: provider {provider.name!r} cannot fall back to itself", field=field)
        if other not in known:
            raise ConfigurationError(f"{field}: unknown provider {other!r} (known: {', '.join(sorted(known))})",
                                     field=field)


def _dialect(name: str, spec: dict) -> str:
    """`dialect`, else the older boolean `json_schema` (true: json_schema, false: json_object), else auto."""
    if "dialect" in spec:
        if spec["dialect"] not in DIALECTS:
            raise ConfigurationError(f"AGENTFLOW_PROVIDERS: provider {name!r} has dialect {spec['dialect']!r}; "
                                     f"use one of {', '.join(DIALECTS)}")
        return spec["dialect"]
    if "json_schema" in spec:
        return "json_schema" if spec["json_schema"] else "json_object"
    return "auto"


def _max_concurrency(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"AGENTFLOW_PROVIDERS: {name}.max_concurrency must be a positive integer, not {value!r}"
        )
    return value


def _prices(raw: str) -> PriceTable:
    """AGENTFLOW_PRICES: JSON {model: {input, output}} in USD per 1M tokens."""
    if not raw.strip():
        return PriceTable()
    try:
        return PriceTable(parse_prices(json.loads(raw)))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigurationError(f"AGENTFLOW_PRICES is not valid: {exc}") from None


def _api_keys(raw: str) -> tuple[str, ...]:
    """Comma-separated keys, or @path to a file of keys (one a line)."""
    raw = raw.strip()
    if raw.startswith("@"):
        with open(raw[1:], encoding="utf-8") as handle:
            raw = handle.read().replace("\n", ",")
    return tuple(k.strip() for k in raw.split(",") if k.strip())


def _int(env: Mapping[str, str], name: str, default):
    value = env.get(name)
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {value!r}") from None


def _float(env: Mapping[str, str], name: str, default):
    value = env.get(name)
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {value!r}") from None
