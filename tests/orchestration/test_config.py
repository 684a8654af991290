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


# --- tuning -----------------------------------------------------------------------
TUNED = (
    MINIMAL
    + """
tuning:
  max_jobs: 6
  max_parallel_jobs: 3
  random_seed: 11
  objective: {metric: "validation:f1", type: minimize}
  ranges:
    n_estimators: {type: integer, min: 10, max: 100, scaling: logarithmic}
    max_features: {type: continuous, min: 0.1, max: 0.99, scaling: ReverseLogarithmic}
    criterion: {values: [gini, entropy]}
    bootstrap: {type: categorical, values: [true, false]}
"""
)


def test_a_tuning_section_reads_sagemakers_spellings_in_any_case(tmp_path):
    tuning = load_config(write(tmp_path, TUNED)).tuning
    assert (tuning.strategy, tuning.max_jobs, tuning.max_parallel_jobs) == (
        "Random",
        6,
        3,
    )
    assert (tuning.objective_metric, tuning.objective_type) == (
        "validation:f1",
        "Minimize",
    )
    assert (tuning.early_stopping, tuning.random_seed) == ("Off", 11)
    n, features, criterion, bootstrap = tuning.ranges
    assert (n.kind, n.min_value, n.max_value, n.scaling) == (
        "Integer",
        10,
        100,
        "Logarithmic",
    )
    assert (features.kind, features.scaling) == ("Continuous", "ReverseLogarithmic")
    assert (criterion.kind, criterion.values) == ("Categorical", ("gini", "entropy"))
    assert bootstrap.values == ("true", "false")  # strings, as SageMaker passes them


def test_the_tuning_objective_defaults_to_the_auto_approval_rule(tmp_path):
    text = MINIMAL.replace(
        "registry: {model_group: g}",
        'registry: {model_group: g, auto_approval: {metric: "validation:rmse", '
        "threshold: 1, direction: min}}",
    )
    text += "tuning: {ranges: {max_depth: {type: integer, min: 2, max: 4}}}\n"
    tuning = load_config(write(tmp_path, text)).tuning
    assert (tuning.objective_metric, tuning.objective_type) == (
        "validation:rmse",
        "Minimize",
    )
    assert load_config(REPO_ROOT / "config" / "penguins.yaml").tuning.max_jobs == 4
    aws = load_config(REPO_ROOT / "config" / "aws-example.yaml").tuning
    assert (aws.strategy, aws.early_stopping) == ("Bayesian", "Off")  # bare YAML Off


def tuning_text(block: str) -> str:
    return MINIMAL + "tuning:\n" + "".join(f"  {line}\n" for line in block.split("\n"))


RANGE = "ranges: {max_depth: {type: integer, min: 2, max: 4}}"


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            RANGE,
            "tuning.objective is required when registry.auto_approval names no metric",
        ),
        (
            "objective: {metric: m, type: Max}\n" + RANGE,
            "tuning.objective.type must be one of Maximize, Minimize, got 'Max'",
        ),
        (
            "objective: {metric: m}\n" + RANGE,
            "tuning.objective.type is required: one of Maximize, Minimize",
        ),
        (
            "objective: {metric: m, type: Maximize, goal: x}\n" + RANGE,
            "unknown key 'tuning.objective.goal'",
        ),
        (
            "objective: {metric: m, type: Maximize}",
            "tuning.ranges is required",
        ),
        (
            "objective: {metric: m, type: Maximize}\nranges: [max_depth]",
            "tuning.ranges must map hyperparameter names to ranges",
        ),
        (
            "objective: {metric: m, type: Maximize}\nstrategy: Genetic\n" + RANGE,
            "tuning.strategy must be one of Bayesian, Random, Hyperband, Grid, got 'Genetic'",  # noqa: E501
        ),
        (
            "objective: {metric: m, type: Maximize}\nmax_jobs: 0\n" + RANGE,
            "tuning.max_jobs must be between 1 and 750, got 0",
        ),
        (
            "objective: {metric: m, type: Maximize}\nmax_parallel_jobs: two\n" + RANGE,
            "tuning.max_parallel_jobs must be a whole number, got 'two'",
        ),
        (
            "objective: {metric: m, type: Maximize}\nearly_stopping: Sometimes\n"
            + RANGE,
            "tuning.early_stopping must be one of Off, Auto, got 'Sometimes'",
        ),
        (
            "objective: {metric: m, type: Maximize}\nrandom_seed: 1.5\n" + RANGE,
            "tuning.random_seed must be a whole number, got 1.5",
        ),
        (
            "objective: {metric: m, type: Maximize}\nwarm_start: x\n" + RANGE,
            "unknown key 'tuning.warm_start'",
        ),
        (
            "objective: {metric: m, type: Maximize}\nranges: {max_depth: {min: 2}}",
            "tuning.ranges.max_depth.type is required: one of integer, continuous, categorical",  # noqa: E501
        ),
        (
            "objective: {metric: m, type: Maximize}\n"
            "ranges: {max_depth: {type: float, min: 2, max: 4}}",
            "tuning.ranges.max_depth.type must be one of integer, continuous, categorical, got 'float'",  # noqa: E501
        ),
        (
            "objective: {metric: m, type: Maximize}\n"
            "ranges: {max_depth: {type: integer, min: 2}}",
            "tuning.ranges.max_depth.max is required",
        ),
        (
            "objective: {metric: m, type: Maximize}\n"
            "ranges: {max_depth: {type: integer, min: 2.5, max: 4}}",
            "tuning.ranges.max_depth.min must be a whole number, got 2.5",
        ),
        (
            "objective: {metric: m, type: Maximize}\n"
            "ranges: {max_depth: {type: integer, min: 5, max: 4}}",
            "tuning.ranges.max_depth.min must not be above max (5 > 4)",
        ),
        (
            "objective: {metric: m, type: Maximize}\n"
            "ranges: {alpha: {type: continuous, min: 0, max: 1, scaling: Logarithmic}}",
            "tuning.ranges.alpha.scaling Logarithmic needs a range above 0 (min > 0), got min 0.0",  # noqa: E501
        ),
        (
            "objective: {metric: m, type: Maximize}\n"
            "ranges: {alpha: {type: continuous, min: 0.5, max: 1, scaling: ReverseLogarithmic}}",  # noqa: E501
            "tuning.ranges.alpha.scaling ReverseLogarithmic is for continuous ranges within 0 <= x < 1 only",  # noqa: E501
        ),
        (
            "objective: {metric: m, type: Maximize}\n"
            "ranges: {n: {type: integer, min: 1, max: 3, scaling: ReverseLogarithmic}}",
            "tuning.ranges.n.scaling ReverseLogarithmic is for continuous ranges",
        ),
        (
            "objective: {metric: m, type: Maximize}\n"
            "ranges: {n: {type: integer, min: 1, max: 3, scaling: Cubic}}",
            "tuning.ranges.n.scaling must be one of Auto, Linear, Logarithmic, ReverseLogarithmic, got 'Cubic'",  # noqa: E501
        ),
        (
            "objective: {metric: m, type: Maximize}\n"
            "ranges: {n: {type: integer, min: 1, max: 3, values: [1, 2]}}",
            "tuning.ranges.n.values is for categorical ranges; integer ranges take min and max",  # noqa: E501
        ),
        (
            "objective: {metric: m, type: Maximize}\n"
            "ranges: {c: {values: [a, b], min: 1}}",
            "unknown key 'tuning.ranges.c.min'",
        ),
        (
            "objective: {metric: m, type: Maximize}\nranges: {c: {values: []}}",
            "tuning.ranges.c.values must be a non-empty list of single values, got []",
        ),
        (
            "objective: {metric: m, type: Maximize}\nranges: {c: {values: [[1], 2]}}",
            "tuning.ranges.c.values must be a non-empty list of single values",
        ),
        (
            "objective: {metric: m, type: Maximize}\nranges: {c: {values: [a, a]}}",
            "tuning.ranges.c.values must not repeat a value",
        ),
        (
            "objective: {metric: m, type: Maximize}\nstrategy: Grid\n"
            "ranges: {c: {values: [a, b]}, max_depth: {type: integer, min: 2, max: 4}}",
            "tuning.strategy Grid searches categorical ranges only, as SageMaker's Grid strategy does, but max_depth is not",  # noqa: E501
        ),
    ],
)
def test_tuning_config_errors_say_what_is_expected(tmp_path, block, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, tuning_text(block)))
    assert message in err.value.message


def test_without_a_tracking_section_runs_stay_local_only(tmp_path):
    assert load_config(write(tmp_path, MINIMAL)).tracking is None


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("https://mlflow.example.com", "https://mlflow.example.com"),
        ("file:///srv/mlruns", "file:///srv/mlruns"),
        ("sqlite:////srv/mlflow.db", "sqlite:////srv/mlflow.db"),
        (
            "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/penguins",
            "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/penguins",
        ),
    ],
)
def test_tracking_takes_mlflow_uris_and_sagemaker_tracking_server_arns(
    tmp_path, uri, expected
):
    config = load_config(
        write(tmp_path, MINIMAL + f"tracking: {{mlflow_uri: '{uri}'}}\n")
    )
    assert config.tracking.mlflow_uri == expected
    assert config.tracking.experiment == "demo"  # the project, by default
    assert config.tracking.artifact_location is None


def test_a_relative_sqlite_store_is_anchored_at_the_repository(tmp_path):
    text = MINIMAL + (
        "tracking: {mlflow_uri: 'sqlite:///.state/mlflow.db', experiment: penguins-x,"
        " artifact_location: 's3://b/mlflow'}\n"
    )
    tracking = load_config(write(tmp_path, text)).tracking
    assert tracking.mlflow_uri == f"sqlite:///{tmp_path / '.state' / 'mlflow.db'}"
    assert tracking.experiment == "penguins-x"
    assert tracking.artifact_location == "s3://b/mlflow"


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{experiment: x}", "tracking.mlflow_uri is required"),
        ("{mlflow_uri: mlflow}", "tracking.mlflow_uri must be an MLflow tracking URI"),
        ("{mlflow_uri: 'ftp://h/x'}", "tracking.mlflow_uri must be an MLflow"),
        ("{mlflow_uri: 'http://'}", "tracking.mlflow_uri must be an MLflow"),
        ("{mlflow_uri: 'sqlite:///'}", "tracking.mlflow_uri must be an MLflow"),
        ("{mlflow_uri: 'file://host/x'}", "tracking.mlflow_uri must be an MLflow"),
        (
            "{mlflow_uri: 'arn:aws:sagemaker:eu-west-1:1234:mlflow-tracking-server/x'}",
            "mlflow-tracking-server/NAME",
        ),
        ("{mlflow_uri: 'http://h', experment: x}", "unknown key 'tracking.experment'"),
        ("{mlflow_uri: 5000}", "tracking.mlflow_uri must be an MLflow"),
        ("[http://h]", "tracking must be a mapping"),
    ],
)
def test_tracking_errors_say_what_is_expected(tmp_path, block, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, MINIMAL + f"tracking: {block}\n"))
    assert message in err.value.message
    assert "\n" not in err.value.message
