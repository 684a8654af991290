"""How much `train` costs beyond reading its data, as a ratio measured in one run.

    .venv/bin/python benchmarks/bench_training.py [--rows 1000000] [--repeats 2]

Writes a synthetic CSV (rows × 20 columns: a binary label, 17 numerics with a
few missing values, 2 text categoricals), then, alternating, times

- reference: ``pandas.read_csv(path)`` (pandas' default engine), and
- train: ``container.training.main()`` on an /opt/ml tree holding that file,
  from files to a saved bundle, minus the estimator's own fit (taken from the
  manifest's ``timings_seconds.fit_estimator``).

and reports the best of each and their ratio (goal ≤ 1.5), with the phases of
the best train run. The estimator is a depth-4 decision tree so that the
benchmark stays short; its fit is excluded anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from container.contract.paths import ROOT_ENV_VAR  # noqa: E402


def write_dataset(path: Path, rows: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    numerics = rng.normal(size=(rows, 17)).round(4)
    numerics[rng.random(size=numerics.shape) < 0.01] = np.nan
    label = (np.nan_to_num(numerics[:, 0]) + rng.normal(size=rows) > 0).astype(np.int64)
    columns = {"label": label}
    columns.update({f"x{i}": numerics[:, i] for i in range(17)})
    columns["colour"] = rng.choice(["red", "green", "blue", "cyan"], size=rows)
    columns["size"] = rng.choice(["S", "M", "L"], size=rows)
    pacsv.write_csv(pa.table(columns), path)


def time_reference(path: Path) -> float:
    start = time.perf_counter()
    frame = pd.read_csv(path)
    elapsed = time.perf_counter() - start
    assert len(frame) > 0
    return elapsed


def time_train(root: Path, data: Path) -> tuple[float, dict[str, float]]:
    from container import training

    train_dir = root / "input" / "data" / "train"
    train_dir.mkdir(parents=True, exist_ok=True)
    link = train_dir / data.name
    if not link.exists():
        os.link(data, link)
    (root / "input" / "config").mkdir(parents=True, exist_ok=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps({"target": "label", "algorithm": "decision_tree", "max_depth": "4"})
    )
    os.environ[ROOT_ENV_VAR] = str(root)
    start = time.perf_counter()
    code = training.main()
    total = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"train failed: {(root / 'output' / 'failure').read_text()}")
    manifest = json.loads((root / "model" / "model.json").read_text())
    phases = manifest["timings_seconds"]
    return total - phases["fit_estimator"], {"total": total, **phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "synthetic.csv"
        start = time.perf_counter()
        write_dataset(data, args.rows)
        size_mb = data.stat().st_size / 1e6
        print(
            f"dataset: {args.rows} rows x 20 columns, {size_mb:.0f} MB "
            f"(written in {time.perf_counter() - start:.1f} s)"
        )
        references, trains = [], []
        for i in range(args.repeats):
            references.append(time_reference(data))
            trains.append(time_train(Path(tmp) / f"opt_ml_{i}", data))
            print(
                f"run {i}: read_csv {references[-1]:.2f} s, "
                f"train minus fit {trains[-1][0]:.2f} s"
            )
        reference = min(references)
        best_train, phases = min(trains, key=lambda t: t[0])
        print(f"reference pandas.read_csv: {reference:.2f} s")
        print(f"train minus estimator fit: {best_train:.2f} s")
        print("phases (s): " + ", ".join(f"{k}={v:.2f}" for k, v in phases.items()))
        print(f"ratio: {best_train / reference:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
