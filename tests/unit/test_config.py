import json

import pytest

from engine.config import OPENAI_DEFAULT_BASE_URL, Settings
from engine.errors import ConfigurationError
from engine.limits import Limits
from engine.target import Target, with_fallbacks


def test_defaults_follow_the_openai_sdk():
    settings = Settings.from_env({})
    openai = settings.providers["openai"]
    assert openai.base_url == OPENAI_DEFAULT_BASE_URL and openai.api_key is None
    assert settings.default_model == "openai/gpt-4.1-mini"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.needs_simulator


def test_environment_overrides():
    settings = Settings.from_env({
        "OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://h/v1/", "AGENTFLOW_RPM": "3000",
        "AGENTFLOW_TPM": "1e6", "AGENTFLOW_DEFAULT_MODEL": "openai/gpt-4o", "AGENTFLOW_PORT": "9000",
    })
    provider, model = settings.resolve(None)
    assert (provider.base_url, provider.api_key, model) == ("http://h/v1", "sk-x", "gpt-4o")
    assert provider.limits == Limits(3000, 1_000_000)
    assert settings.port == 9000 and not settings.needs_simulator


def test_named_providers_and_resolution_errors():
    settings = Settings.from_env({
        "AGENTFLOW_PROVIDERS": '{"local": {"base_url": "http://127.0.0.1:11434/v1", "rpm": 60, "json_schema": false}}',
    })
    provider, model = settings.resolve("local/llama3.1:8b")
    assert (provider.name, model, provider.json_schema, provider.api_key) == ("local", "llama3.1:8b", False, "none")
    with pytest.raises(ConfigurationError, match="unknown provider 'nope'"):
        settings.resolve("nope/x")
    with pytest.raises(ConfigurationError, match="set OPENAI_API_KEY"):
        settings.resolve("openai/gpt-4.1-mini")
    with pytest.raises(ConfigurationError, match="provider/model"):
        settings.resolve("gpt-4")


def test_a_providers_dialect_is_configured_or_found_and_json_schema_stays_a_synonym():
    table = {"plain": {"base_url": "http://a/v1"}, "llama": {"base_url": "http://b/v1", "dialect": "llama_cpp"},
             "old_yes": {"base_url": "http://c/v1", "json_schema": True},
             "old_no": {"base_url": "http://d/v1", "json_schema": False}}
    providers = Settings.from_env({"AGENTFLOW_PROVIDERS": json.dumps(table)}).providers
    assert {name: providers[name].dialect for name in table} == {
        "plain": "auto", "llama": "llama_cpp", "old_yes": "json_schema", "old_no": "json_object"}
    assert providers["openai"].dialect == "json_schema"  # OpenAI itself
    behind = Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"}).providers["openai"]
    assert behind.dialect == "auto"  # another server behind OPENAI_BASE_URL is found out
    with pytest.raises(ConfigurationError, match="provider 'x' has dialect 'tgi'; use one of auto, json_schema"):
        Settings.from_env({"AGENTFLOW_PROVIDERS": '{"x": {"base_url": "http://e/v1", "dialect": "tgi"}}'})


def test_max_concurrency_pins_a_provider_or_is_refused_with_its_field():
    pinned = Settings.from_env({"AGENTFLOW_PROVIDERS": '{"local": {"base_url": "http://h/v1", "max_concurrency": 4}}'})
    assert pinned.resolve("local/m")[0].max_concurrency == 4
    adaptive = Settings.from_env({"AGENTFLOW_PROVIDERS": '{"local": {"base_url": "http://h/v1"}}'})
    assert adaptive.resolve("local/m")[0].max_concurrency is None
    for bad in ("0", "-2", '"4"', "true", "1.5"):
        with pytest.raises(ConfigurationError, match="local.max_concurrency must be a positive integer"):
            Settings.from_env({"AGENTFLOW_PROVIDERS": '{"local": {"base_url": "http://h/v1", "max_concurrency": %s}}' % bad})


def test_simulator_routing_and_bad_values():
    settings = Settings.from_env({}).with_simulator("http://127.0.0.1:8300/v1")
    provider, model = settings.resolve(None)
    assert provider.simulated and provider.base_url.endswith(":8300/v1")
    assert Target(provider, model).display_model == "sim/gpt-4.1-mini"  # batch status says what sync answers say
    with pytest.raises(ConfigurationError, match="AGENTFLOW_PORT"):
        Settings.from_env({"AGENTFLOW_PORT": "eighty"})
    with pytest.raises(ConfigurationError, match="AGENTFLOW_PROVIDERS"):
        Settings.from_env({"AGENTFLOW_PROVIDERS": "{not json"})


def test_api_keys_from_list_or_file(tmp_path):
    assert Settings.from_env({"AGENTFLOW_API_KEYS": " a, b ,"}).api_keys == ("a", "b")
    keys = tmp_path / "keys"
    keys.write_text("k1\nk2\n")
    assert Settings.from_env({"AGENTFLOW_API_KEYS": f"@{keys}"}).api_keys == ("k1", "k2")


def test_fallbacks_name_other_providers_with_the_same_or_their_own_model():
    table = {"a": {"base_url": "http://a/v1", "fallbacks": ["b", "c/llama3"]}, "b": {"base_url": "http://b/v1"},
             "c": {"base_url": "http://c/v1"}}
    settings = Settings.from_env({"AGENTFLOW_PROVIDERS": json.dumps(table)})
    provider, model = settings.resolve("a/gpt-4.1-mini")
    assert provider.fallbacks == (("b", None), ("c", "llama3"))
    target = with_fallbacks(provider, model, settings.providers)
    route = [(target.provider.name, target.model)]
    while target.fallbacks:
        target = target.next()
        route.append((target.provider.name, target.model))
    assert route == [("a", "gpt-4.1-mini"), ("b", "gpt-4.1-mini"), ("c", "llama3")]
    assert settings.providers["b"].fallbacks == ()


def test_a_fallback_without_an_api_key_is_left_out():
    table = {"a": {"base_url": "http://a/v1", "fallbacks": ["keyed", "unkeyed"]},
             "keyed": {"base_url": "http://k/v1", "api_key_env": "K"},
             "unkeyed": {"base_url": "http://u/v1", "api_key_env": "MISSING"}}
    settings = Settings.from_env({"AGENTFLOW_PROVIDERS": json.dumps(table), "K": "sk"})
    target = with_fallbacks(*settings.resolve("a/m"), settings.providers)
    assert [fallback.provider.name for fallback in target.fallbacks] == ["keyed"]


@pytest.mark.parametrize("fallbacks, message", [
    (["nope"], "unknown provider 'nope'"),
    (["a"], "cannot fall back to itself"),
    (["a/other-model"], "cannot fall back to itself"),
    ("b", "must be a list of provider names"),
    ([1], "must be a list of provider names"),
    ([""], "must be a list of provider names"),
])
def test_bad_fallbacks_are_refused_naming_the_field(fallbacks, message):
    table = {"a": {"base_url": "http://a/v1", "fallbacks": fallbacks}, "b": {"base_url": "http://b/v1"}}
    with pytest.raises(ConfigurationError, match=message) as info:
        Settings.from_env({"AGENTFLOW_PROVIDERS": json.dumps(table)})
    assert info.value.field == "AGENTFLOW_PROVIDERS.a.fallbacks"


def test_openai_itself_may_fall_back_and_the_cooldown_is_set():
    table = {"backup": {"base_url": "http://b/v1"}}
    settings = Settings.from_env({"AGENTFLOW_PROVIDERS": json.dumps(
        {**table, "openai": {"base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY",
                             "fallbacks": ["backup"]}}), "OPENAI_API_KEY": "sk", "AGENTFLOW_FALLBACK_COOLDOWN": "2.5"})
    assert settings.providers["openai"].fallbacks == (("backup", None),)
    assert settings.fallback_cooldown == 2.5
