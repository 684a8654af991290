"""The notebooks are executed, so they never rot: every cell runs, the pictures show."""

from __future__ import annotations

import re

import nbformat
from nbclient import NotebookClient

from orchestration.config import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"


def execute(name: str) -> tuple[str, list[dict]]:
    """Run a notebook; its printed text, and its outputs (none an error)."""
    path = NOTEBOOKS / name
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    outputs = [
        o
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
    ]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    return text, outputs


def svgs(outputs: list[dict]) -> list[str]:
    return [
        o["data"]["image/svg+xml"]
        for o in outputs
        if "image/svg+xml" in o.get("data", {})
    ]


def test_notebook_runs_the_lifecycle_and_pictures_the_drift(image, docker_client):
    text, outputs = execute("lifecycle.ipynb")
    assert "violations on held-out traffic: 0" in text
    assert "[any-drift] data drift on penguins-notebook" in text
    assert "teardown: deleted endpoint(s) ['penguins-notebook']" in text
    pictures = svgs(outputs)
    assert len(pictures) == 3 and "body_mass_g" in pictures[0]


def test_training_notebook_pictures_a_tuning_jobs_trials(image, docker_client):
    text, outputs = execute("training.ipynb")
    assert "best trial: " in text and "with 4 trials" in text
    (picture,) = svgs(outputs)
    assert picture.count("<circle") >= 4  # a dot per trial, and the best ringed


def test_inference_notebook_scores_a_batch_and_pictures_its_confusion(
    image, docker_client
):
    text, outputs = execute("inference.ipynb")
    assert "data-quality violations: 0" in text
    assert "model quality: Completed" in text
    (picture,) = svgs(outputs)
    assert "confusion matrix" in picture and "Gentoo" in picture


def test_rollout_notebook_compares_two_variants_and_promotes_the_better(
    image, docker_client
):
    text, outputs = execute("rollout.ipynb")
    assert "AllTraffic weight 1.0 InService" in text
    assert "challenger weight 1.0 InService" in text
    weak = re.search(r"AllTraffic \w+ \{'accuracy': ([\d.]+)", text)
    assert weak and float(weak[1]) < 0.95  # three stumps miss some of the birds
    assert "challenger Completed {'accuracy': 1.0" in text
    charts = svgs(outputs)
    assert len(charts) == 6  # requests, error rate, p50, p99, accuracy, weighted F1
    for chart in charts:  # a bar for each variant, none left as n/a
        assert chart.count('class="bar"') == 2 and "n/a" not in chart
        assert ">AllTraffic</text>" in chart and ">challenger</text>" in chart
    requests = re.search(
        r"<title>AllTraffic: (\d+)</title>.*?"
        r"<title>challenger: (\d+)</title>",
        charts[0],
    )
    assert requests and min(map(int, requests.groups())) > 10  # both got traffic
    # The registry outlives runs, so version numbers grow: read the challenger's.
    won = re.search(r"verdict: challenger \(version (\d+)\) wins", text)
    assert won, text[-2000:]
    assert f"variants left: [('challenger', {won.group(1)}, 1.0)]" in text
    assert "teardown: deleted endpoint(s) ['penguins-notebook-rollout']" in text


def test_exploration_notebook_pictures_the_data_before_training():
    text, outputs = execute("exploration.ipynb")
    assert "penguins-raw.csv: 344 rows, 17 columns" in text
    assert "'rejected_rows': 0, 'dropped_no_measurements': 2" in text
    tables = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "above maximum 7000" in tables  # the broken copy's rejections, with reasons
    pictures = svgs(outputs)
    balance, *histograms, correlation = pictures
    assert balance.count('class="bar"') == 3 and "Chinstrap" in balance
    features = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    assert [
        re.search(r'aria-label="histogram of (\w+)"', h)[1] for h in histograms
    ] == (features)
    for histogram in histograms:  # every species drawn in every histogram
        assert all(
            f"<title>{s}: " in histogram for s in ("Adelie", "Chinstrap", "Gentoo")
        )
    assert correlation.count('class="cell"') == len(features) ** 2
    assert "most correlated pair: ('flipper_length_mm', 'body_mass_g')" in text
