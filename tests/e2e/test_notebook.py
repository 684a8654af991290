"""The notebook is executed, so it never rots: every cell runs, the drift shows."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from orchestration.config import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "lifecycle.ipynb"


def test_notebook_runs_the_lifecycle_and_pictures_the_drift(image, docker_client):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    outputs = [
        o
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
    ]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "violations on held-out traffic: 0" in text
    assert "[any-drift] data drift on penguins-notebook" in text
    assert "teardown: deleted endpoint(s) ['penguins-notebook']" in text
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) == 3 and "body_mass_g" in svgs[0]["data"]["image/svg+xml"]
