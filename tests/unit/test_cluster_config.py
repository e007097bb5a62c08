"""cluster.yaml and serve_config.yaml against the schemas `ray up` and `serve deploy` use."""

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.serve.schema import ServeDeploySchema

ROOT = Path(__file__).resolve().parents[2]
RAY_SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def commented_variant(name: str) -> dict:
    """The YAML between `# >>> name` and `# <<< name` in cluster.yaml, uncommented (its prose skipped)."""
    text = (ROOT / "cluster.yaml").read_text()
    found = re.search(rf"^# >>> {name}\b[^\n]*\n(.*?)^# <<< {name}$", text, re.S | re.M)
    assert found, f"no {name} variant in cluster.yaml"
    lines = found.group(1).splitlines()
    first = next(i for i, line in enumerate(lines) if re.match(r"# [a-z_]+:", line))
    return yaml.safe_load("\n".join(line[2:] for line in lines[first:]))


def launcher_checks(config: dict) -> dict:
    """What `ray up` does before touching a cloud: schema, defaults, node-type checks."""
    jsonschema.validate(config, RAY_SCHEMA)
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_serve_config_is_a_valid_serve_deploy_config():
    config = ServeDeploySchema.model_validate(load("serve_config.yaml"))
    assert config.http_options.host == "0.0.0.0" and config.http_options.port == 8000
    (app,) = config.applications
    assert app.import_path == "serve_app:app" and app.route_prefix == "/"
    env = app.runtime_env["env_vars"]
    assert env["AGENTFLOW_STORE"].startswith("/mnt/agentflow")
    assert {"AGENTFLOW_CALLERS", "AGENTFLOW_CALLER_CONCURRENCY"} <= set(env)
    assert all(isinstance(value, str) for value in env.values())  # env vars are strings, not YAML numbers
    assert [d.name for d in app.deployments] == ["AgentFlowIngress"]  # the class in serve_app/deployment.py


def test_serve_config_import_path_names_the_bound_app():
    from ray.serve.deployment import Application

    import serve_app

    module, attr = load("serve_config.yaml")["applications"][0]["import_path"].split(":")
    assert module == "serve_app" and isinstance(getattr(serve_app, attr), Application)


def test_cluster_yaml_passes_ray_up_validation():
    config = load("cluster.yaml")
    assert config["cluster_name"] and config["provider"]["type"] == "aws"
    assert config["auth"]["ssh_user"]
    prepared = launcher_checks(config)
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_cluster_yaml_installs_the_package_starts_ray_and_deploys_serve():
    config = load("cluster.yaml")
    setup = "\n".join(config["setup_commands"])
    assert "pip install" in setup and "~/agentflow" in setup and "/mnt/agentflow" in setup
    assert config["file_mounts"]["~/agentflow"] == "."
    head = "\n".join(config["head_start_ray_commands"])
    assert "ray start --head" in head and "serve deploy ~/agentflow/serve_config.yaml" in head
    assert "ray start --address=$RAY_HEAD_IP:6379" in "\n".join(config["worker_start_ray_commands"])
    assert "--force" not in head


@pytest.mark.parametrize("variant, replaced", [
    ("gcp", ()),
    ("local", ("available_node_types", "head_node_type", "max_workers")),
])
def test_commented_variants_pass_ray_up_validation(variant, replaced):
    config = load("cluster.yaml")
    for key in replaced:
        config.pop(key)
    config.pop("head_setup_commands")  # boto3 is for AWS only
    config.update(commented_variant(variant))
    assert config["provider"]["type"] == variant
    launcher_checks(config)
