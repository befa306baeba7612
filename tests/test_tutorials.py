"""Every tutorial runs end to end as a script in fast mode (NPAE_FAST=1) and writes figures."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "tutorials").glob("[0-9][0-9]_*.py"))


@pytest.mark.slow      # each tutorial is a subprocess of a few seconds
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_in_fast_mode_and_writes_figures(path, tmp_path):
    env = {**os.environ, "NPAE_FAST": "1", "NPAE_TUTORIAL_OUT": str(tmp_path), "MPLBACKEND": "Agg"}
    res = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert list(tmp_path.rglob("*.png")), "the tutorial wrote no figure"


def test_tutorials_are_percent_format_notebooks():
    assert len(TUTORIALS) >= 2
    for path in TUTORIALS:
        text = path.read_text()
        assert text.count("# %%") >= 4 and "# %% [markdown]" in text, path.name


@pytest.mark.slow
def test_a_tutorial_copied_out_of_the_repository_runs_on_the_installed_npae(tmp_path):
    """Without tutorials/_setup.py beside it, a tutorial falls back to npae.tutorial_setup."""
    import shutil
    src = next(p for p in TUTORIALS if p.name.startswith("00_"))
    copy = tmp_path / src.name
    shutil.copy(src, copy)
    env = {**os.environ, "NPAE_FAST": "1", "NPAE_TUTORIAL_OUT": str(tmp_path / "out"),
           "MPLBACKEND": "Agg"}
    res = subprocess.run([sys.executable, str(copy)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "npae 0.1.0 from" in res.stdout
