"""`train`: hyperparameters + channels → a validated, evaluated, self-describing bundle.

- `channels`: the training job's input folders read into DataFrames;
- `features`: which columns are target and features, their kinds, the schema
  and the preprocessing pipeline;
- `options`: the hyperparameters `train` itself defines, declared in one table;
- `estimators`: the algorithms and the estimator built from the other keys;
- `search`: hyperparameter search with cross-validation;
- `evaluation`: metrics, per-class details and the HTML report;
- `job`: the job itself, in named phases, run in the shared job shell.

Run as ``python -m container.training`` (the image's `train` command).
"""


def main() -> int:
    """Run the training job (see `container.training.job.main`)."""
    from container.training.job import main as run_training_job

    return run_training_job()
