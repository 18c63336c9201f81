"""The shipped notebooks: stored without outputs, valid, on the venv's kernel; and the working copy
JupyterLab serves (``opslake.stack.jupyter.sync_notebooks``) keeps edits while following the source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opslake.config import REPO_ROOT, data_path
from opslake.stack.jupyter import sync_notebooks

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_the_three_notebooks_of_the_issue_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_telemetry_exploration.ipynb",
        "02_anomaly_investigation.ipynb",
        "03_placement_carbon_whatif.ipynb",
    ]
    # The package carries them (the stack serves a copy from an installed wheel as from a checkout).
    assert sorted(p.name for p in data_path("notebooks").glob("*.ipynb")) == [
        p.name for p in NOTEBOOKS
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    code = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    assert code, "a notebook without code"
    for index, cell in enumerate(code):
        assert cell["outputs"] == [], f"code cell {index} has outputs"
        assert cell["execution_count"] is None, f"code cell {index} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_valid_and_uses_the_python3_kernel(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    # "python3" is the native kernel: the interpreter running Jupyter (the venv's, with opslake).
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    source = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "engine_for(settings)" in source  # Trino on the stack, Spark SQL embedded: one code path


def _write(path: Path, text: str) -> None:
    path.write_text(json.dumps({"cells": [], "text": text}))


def test_sync_copies_missing_notebooks_and_follows_untouched_copies(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "work"
    source.mkdir()
    _write(source / "a.ipynb", "a1")
    _write(source / "b.ipynb", "b1")
    (source / "README.md").write_text("not a notebook")
    assert sync_notebooks(source, target) == ["a.ipynb", "b.ipynb"]
    assert sorted(p.name for p in target.glob("*.ipynb")) == ["a.ipynb", "b.ipynb"]
    assert not (target / "README.md").exists()
    assert sync_notebooks(source, target) == []  # nothing changed: nothing written

    _write(source / "a.ipynb", "a2")  # a new version ships; the copy was never edited
    assert sync_notebooks(source, target) == ["a.ipynb"]
    assert json.loads((target / "a.ipynb").read_text())["text"] == "a2"


def test_sync_keeps_an_edited_copy_and_restores_a_deleted_one(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "work"
    source.mkdir()
    _write(source / "a.ipynb", "a1")
    sync_notebooks(source, target)
    _write(target / "a.ipynb", "my analysis")  # someone worked in JupyterLab
    _write(source / "a.ipynb", "a2")
    assert sync_notebooks(source, target) == []
    assert json.loads((target / "a.ipynb").read_text())["text"] == "my analysis"

    (target / "a.ipynb").unlink()  # delete to get the shipped version back
    assert sync_notebooks(source, target) == ["a.ipynb"]
    assert json.loads((target / "a.ipynb").read_text())["text"] == "a2"
