"""docs/tutorial.ipynb: it runs top to bottom, and the committed copy reads on GitHub with its outputs.

The run executes a temporary copy of the notebook with nbclient, in the notebook's own folder (docs/, as Jupyter
would), with TUTORIAL_QUICK=1, the notebook's smaller settings; any cell that raises fails the test. The committed
copy must hold the outputs of a full run: every code cell executed in order, no error, its pictures embedded.
"""

import shutil

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")  # the kernel the notebook runs on

from conftest import ROOT  # noqa: E402

NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
MIN_IMAGES = 12  # one picture per section of the tutorial, about; fewer means some figure stopped being drawn
CELL_TIMEOUT_S = 300  # per cell; the longest cell of the quick run takes seconds


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def image_count(nb):
    return sum("image/png" in out.get("data", {}) for c in code_cells(nb) for out in c.outputs)


def printed(nb):
    return "".join(out.get("text", "") for c in code_cells(nb) for out in c.outputs if out.output_type == "stream")


def test_committed_notebook_holds_the_outputs_of_a_full_run():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = code_cells(nb)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), \
        "every code cell must be executed, top to bottom in one run"
    errors = [out.get("ename") for c in cells for out in c.outputs if out.output_type == "error"]
    assert not errors, f"the committed notebook holds errors: {errors}"
    assert image_count(nb) >= MIN_IMAGES, f"only {image_count(nb)} pictures in the committed notebook"
    assert "quick=False" in printed(nb), "the committed outputs must come from the full settings, not TUTORIAL_QUICK"


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTORIAL_QUICK", "1")  # the kernel inherits the environment
    committed = NOTEBOOK.read_bytes()
    copy = tmp_path / NOTEBOOK.name
    shutil.copyfile(NOTEBOOK, copy)
    nb = nbformat.read(copy, as_version=4)
    for cell in code_cells(nb):  # start blank: the outputs checked below are this run's
        cell.outputs, cell.execution_count = [], None
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    nbformat.write(nb, copy)  # the executed copy, for a look when the checks below fail
    assert "quick=True" in printed(nb)
    assert image_count(nb) >= MIN_IMAGES, f"the run drew only {image_count(nb)} pictures"
    assert NOTEBOOK.read_bytes() == committed
