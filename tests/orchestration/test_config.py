from pathlib import Path

import pytest

from orchestration.config import DEFAULT_CONFIG, REPO_ROOT, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    path = tmp_path / "config" / "p.yaml"
    path.write_text(text)
    return path


MINIMAL = """
project: demo
data: {raw: data/raw.csv, schema: config/s.yaml}
training: {hyperparameters: {target: species, n_estimators: 10, bootstrap: true}}
registry: {model_group: g}
endpoint: {name: e}
"""


def test_default_project_loads_with_paths_resolved_against_the_repo():
    config = load_config()
    assert config.source == DEFAULT_CONFIG
    assert config.data.raw == REPO_ROOT / "data" / "raw" / "penguins-raw.csv"
    assert config.data.raw.is_file() and config.data.schema.is_file()
    assert config.data.annotations.manifest.is_file()
    assert config.target == "species"
    assert config.registry.auto_approval.metric == "validation:accuracy"


def test_aws_example_loads():
    config = load_config(REPO_ROOT / "config" / "aws-example.yaml")
    assert config.backend == "aws"
    assert config.aws.role_arn.startswith("arn:aws:iam::")


@pytest.mark.parametrize(
    ("name", "flag", "expected"),
    [
        ("penguins.yaml", None, "local"),
        ("penguins.yaml", "local", "local"),
        ("aws-example.yaml", None, "aws"),
        ("aws-example.yaml", "aws", "aws"),
        ("aws-example.yaml", "local", "local"),
    ],
)
def test_backend_flag_overrides_the_files_backend_key(name, flag, expected):
    assert load_config(REPO_ROOT / "config" / name, backend=flag).backend == expected


def test_aws_flag_on_a_config_without_an_aws_section_says_what_is_missing():
    with pytest.raises(ConfigError, match="needs an `aws:` section"):
        load_config(REPO_ROOT / "config" / "penguins.yaml", backend="aws")


def test_hyperparameters_become_strings_as_sagemaker_passes_them(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.training.hyperparameters == {
        "target": "species",
        "n_estimators": "10",
        "bootstrap": "true",
    }
    assert config.state_dir == tmp_path / ".state"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MINIMAL + "extra_key: 1\n", "extra_key"),
        (
            MINIMAL.replace("name: e", "name: e, instance_count: zero"),
            "endpoint.instance_count",
        ),
        (
            MINIMAL.replace("model_group: g", "model_grup: g"),
            "registry.model_group is required",
        ),
        (MINIMAL + "data2: 1\n", "data2"),
        (MINIMAL.replace("{target: species, ", "{"), "training.hyperparameters.target"),
        (
            MINIMAL.replace(
                "schema: config/s.yaml}",
                "schema: config/s.yaml, split: {train: 0.9, test: 0.5}}",
            ),
            "data.split.train",
        ),
        (
            MINIMAL + "alerts: {rules: [{name: x, kind: sometimes}]}\n",
            "alerts.rules[0].kind",
        ),
        (MINIMAL + "alerts: {webhook_url: ftp://x}\n", "alerts.webhook_url"),
        (MINIMAL + "backend: gcp\n", "backend"),
    ],
)
def test_config_errors_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert key in err.value.message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # A name becomes a folder and a capture path: these left the state folder.
        (MINIMAL.replace("name: e", "name: ../../../tmp/x"), "endpoint.name"),
        (MINIMAL.replace("name: e", "name: ../../etc"), "endpoint.name"),
        (MINIMAL.replace("name: e", "name: e_1"), "endpoint.name"),
        (MINIMAL.replace("name: e", "name: " + "e" * 64), "endpoint.name"),
        (
            MINIMAL.replace("model_group: g", "model_group: g/../x"),
            "registry.model_group",
        ),
        (MINIMAL.replace("project: demo", "project: ../demo"), "project"),
    ],
)
def test_names_sagemaker_refuses_are_config_errors_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert (
        f"{key} must be a name SageMaker accepts (at most 63 letters"
        in err.value.message
    )
    assert "\n" not in err.value.message


@pytest.mark.parametrize(
    "url", ["http://", "https:// hooks.example.com/x", "http://:80/x", "http://h:port/"]
)
def test_a_webhook_url_needs_a_host(tmp_path, url):
    with pytest.raises(ConfigError, match="alerts.webhook_url must be an http"):
        load_config(write(tmp_path, MINIMAL + f"alerts: {{webhook_url: '{url}'}}\n"))
    ok = MINIMAL + "alerts: {webhook_url: 'https://hooks.example.com:8443/T0/B0'}\n"
    assert load_config(write(tmp_path, ok)).alerts.webhook_url.endswith("/T0/B0")


def test_missing_file_and_bad_yaml_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(write(tmp_path, "project: [unclosed\n"))


def test_aws_backend_without_aws_section_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="aws:"):
        load_config(write(tmp_path, MINIMAL), backend="aws")
