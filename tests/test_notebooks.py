"""Notebooks (npae.notebooks, npae.inline, npae.assignments.notebook): the tutorials and the
homework as .ipynb files that run in a real Jupyter kernel, figures inline.

The kernel tests need nbclient and ipykernel (the ``test`` extra). They skip when those
are missing, except in CI (``CI=true``), where a missing kernel is a failure: the
notebooks must be tested there.
"""
import base64
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from npae import notebooks
from npae.assignments.catalog import CATALOG
from npae.assignments.spec import Assignment, Question, load_spec
from npae.cli import main
from assignment_specs import HOMEWORK3_SPEC as SPEC

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
DRAWS = re.compile(r"path=out\(|save_figure\(")       # a line that saves, so shows, a figure


def _answers(assignment):
    """What gives each question's answer away, read from the reference (never written in
    this file, which a student build copies): the statements of the exercise function's
    body, and the text of the module docstring's lines with the tags the build redacts."""
    import ast
    import importlib
    import inspect
    import textwrap
    found = []
    for q in assignment.questions:
        module = importlib.import_module(q.ex.module)
        fn = module
        for part in q.ex.qualname.split("."):
            fn = getattr(fn, part)
        source = textwrap.dedent(inspect.getsource(fn))
        lines = source.splitlines()
        body = ast.parse(source).body[0].body
        if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]                                # the docstring is not an answer
        for stmt in body:
            code = " ".join(lines[i].split("#")[0].strip()
                            for i in range(stmt.lineno - 1, stmt.end_lineno))
            found.append(code.strip())
        for line in module.__doc__.splitlines():           # the equation lines "(P7) ..."
            for tag in q.ex.tags:
                if line.strip().startswith(f"({tag})"):
                    found.append(line.strip()[len(tag) + 2:].strip())
    assert len(found) >= 2 * len(assignment.questions)
    return found


def _need_kernel():
    """nbformat and nbclient, or skip (fail under CI=true: CI installs the test extra)."""
    try:
        import ipykernel  # noqa: F401
        import nbclient
        import nbformat
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc.name} is missing in CI: install the test extra (.[test])")
        pytest.skip(f"{exc.name} is not installed (pip install -e .[test])")
    return nbformat, nbclient


def _nbformat_or_skip():
    try:
        import nbformat
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("nbformat is missing in CI: install the test extra (.[test])")
        pytest.skip("nbformat is not installed (pip install -e .[test])")
    return nbformat


def _execute(path, cwd, timeout=600):
    """Run the notebook at ``path`` top to bottom in a python3 kernel started in ``cwd``;
    a cell that raises fails the test (nbclient's CellExecutionError)."""
    nbformat, nbclient = _need_kernel()
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def _images(cell):
    return [base64.b64decode(o["data"]["image/png"]) for o in cell.get("outputs", [])
            if "image/png" in o.get("data", {})]


def _text(cell):
    parts = []
    for o in cell.get("outputs", []):
        parts.append(o.get("text", ""))
        parts.append(o.get("data", {}).get("text/plain", ""))
    return "".join(parts)


# -- the converter (no kernel) -------------------------------------------------------------------

def test_converted_tutorials_are_valid_nbformat_4_with_latex_and_the_path_cell_first(tmp_path):
    """Every cell of the script becomes one cell, Markdown with its LaTeX as written, code
    unchanged; the header is metadata; the first cell puts this checkout on the path."""
    nbformat = _nbformat_or_skip()
    written = notebooks.write_notebooks(tmp_path, log=lambda *a: None)
    assert [p.name for p in written] == [f"{t.stem}.ipynb" for t in TUTORIALS]
    for tutorial, path in zip(TUTORIALS, written):
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert raw["nbformat"] == 4 and raw["metadata"]["kernelspec"]["name"] == "python3"
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        nbformat.validate(nb)                              # against nbformat's JSON schema
        text = tutorial.read_text(encoding="utf-8")
        first, cells = nb.cells[0], nb.cells[1:]
        assert first.cell_type == "code" and f"CHECKOUT = Path({str(ROOT)!r})" in first.source
        assert 'sys.path.insert(0, str(CHECKOUT / "tutorials"))' in first.source
        n_md = len(re.findall(r"^# %% \[markdown\]", text, re.M))
        n_code = len(re.findall(r"^# %%(?! \[markdown\])", text, re.M))
        assert [c.cell_type for c in cells].count("markdown") == n_md, tutorial.name
        assert [c.cell_type for c in cells].count("code") == n_code, tutorial.name
        assert not any("# %%" in c.source or "jupytext:" in c.source for c in cells)
        for c in cells:                                    # every line is the script's line
            lines = c.source.splitlines()
            if c.cell_type == "markdown":
                lines = [("# " + s).rstrip() if s else "#" for s in lines]
            assert all(line in text for line in lines), (tutorial.name, c.source[:80])
        latex = [c.source for c in cells if c.cell_type == "markdown" and "$$" in c.source]
        if "$$" in text:
            assert latex and any("\\" in s for s in latex), tutorial.name   # \frac, \hat …


def test_notebooks_command_writes_keeps_and_reports_bad_input(tmp_path, capsys):
    out = tmp_path / "nbs"
    assert main(["notebooks", "--out", str(out), "02", "00_gradient_checking"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["00_gradient_checking.ipynb",
                                                     "02_sparse.ipynb"]
    (out / "02_sparse.ipynb").write_text("my edits")
    assert main(["notebooks", "--out", str(out), "02"]) == 0
    assert (out / "02_sparse.ipynb").read_text() == "my edits"      # never overwritten
    assert "kept" in capsys.readouterr().out
    assert main(["notebooks", "--out", str(out), "--force", "02"]) == 0
    assert json.loads((out / "02_sparse.ipynb").read_text())["nbformat"] == 4
    assert main(["notebooks", "--out", str(out), "99"]) == 2
    err = capsys.readouterr().err
    assert "unknown tutorial '99'" in err and "02_sparse" in err
    (tmp_path / "file").write_text("")
    assert main(["notebooks", "--out", str(tmp_path / "file")]) == 2
    assert "--out must be a folder" in capsys.readouterr().err


def test_inline_display_is_off_outside_a_kernel(tmp_path):
    """In a script (here: pytest) enable() does nothing and save_figure only writes."""
    from npae import inline, plotting
    assert not inline.in_kernel()
    assert inline.enable() is False and not inline.enabled()
    fig = plotting.histogram([0.0, 1.0, 1.0], path=tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0
    assert fig not in inline._shown                   # nothing was displayed


def test_homework_notebook_holds_the_questions_and_never_an_answer(tmp_path):
    """Structure of homework.ipynb without a build: ASSIGNMENT.md, then per question its
    LaTeX (from the catalog), stub, check and scratch cells; no reference answer."""
    from npae.assignments.notebook import homework_notebook
    (tmp_path / "spec.toml").write_text(SPEC)
    assignment = load_spec(tmp_path / "spec.toml")
    (tmp_path / "ASSIGNMENT.md").write_text("# Homework 3\n\nthe assignment's text\n")
    nb = homework_notebook(assignment, tmp_path)
    nbformat = _nbformat_or_skip()
    nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert sources[0].startswith("# Homework 3") and "the assignment's text" in sources[0]
    for q in assignment.questions:
        assert CATALOG[q.exercise].latex
        assert sum(f"$$ {q.ex.latex} $$" in s for s in sources) == 1
        assert sum(f"check([{q.id!r}])" in s for s in sources) == 1
        assert sum(f"fn = module.{q.ex.qualname}" in s for s in sources) == 1
    text = "".join(sources)
    assert not [answer for answer in _answers(assignment) if answer in text]
    assert "not implemented yet" in sources[-1] and "except NotImplementedError" in sources[-1]


def test_every_catalog_exercise_states_in_latex_what_to_derive_or_compute():
    for ex in CATALOG.values():
        assert "derive" in ex.latex or "overflow" in ex.latex, ex.id


# -- in a real kernel ------------------------------------------------------------------------------

@pytest.mark.slow      # a kernel per tutorial, each a few seconds to a minute under NPAE_FAST
@pytest.mark.parametrize("tutorial", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_every_tutorial_runs_as_a_notebook_with_each_figure_inline_once(tutorial, tmp_path,
                                                                        monkeypatch):
    """Converted by `npae notebooks` and run top to bottom in a kernel: every cell that
    saves a figure shows it, each saved PNG is shown exactly once (the same bytes), no
    figure is shown as text, and the files are still written."""
    _need_kernel()
    figures = tmp_path / "figures"
    monkeypatch.setenv("NPAE_FAST", "1")
    monkeypatch.setenv("NPAE_TUTORIAL_OUT", str(figures))
    if os.environ.get("NPAE_DATA"):      # a relative path names a folder from here, and the
        monkeypatch.setenv("NPAE_DATA",  # kernel starts in tmp_path: the data would vanish
                           str(Path(os.environ["NPAE_DATA"]).expanduser().resolve()))
    assert main(["notebooks", "--out", str(tmp_path), tutorial.stem]) == 0
    nb = _execute(tmp_path / f"{tutorial.stem}.ipynb", tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any("show below each cell that draws them" in _text(c) for c in code)  # inline on
    shown = [img for c in code for img in _images(c)]
    saved = sorted(figures.rglob("*.png"))
    assert saved, "the notebook wrote no figure"
    for png in saved:
        assert shown.count(png.read_bytes()) == 1, f"{png.name} shown {shown.count(png.read_bytes())} times"
    for c in code:
        assert "<Figure size" not in _text(c), c.source[:80]
        if DRAWS.search(c.source):
            assert _images(c), f"a cell that draws shows no figure:\n{c.source[:300]}"


@pytest.fixture(scope="module")
def homework(tmp_path_factory, grading_sandbox):
    from npae.assignments.build import build
    base = tmp_path_factory.mktemp("homework")
    (base / "spec.toml").write_text(SPEC)
    build(base / "spec.toml", base / "hw", key="cd" * 32, log=lambda *a: None)
    return base / "hw"


def _homework_run(student):
    """Run student/homework.ipynb; ``({cell id: cell}, the text of every output)``."""
    nb = _execute(student / "homework.ipynb", student)
    cells = {c.id: c for c in nb.cells if c.cell_type == "code"}
    return cells, "".join(_text(c) for c in cells.values())


@pytest.mark.slow      # an assignment build (seconds) and two kernels training small models
def test_homework_notebook_runs_on_stubs_and_reports_full_marks_on_solutions(homework,
                                                                             tmp_path):
    """On a fresh student/: every check says 'not implemented yet' and the drawing too,
    no traceback. With the solutions copied in: every question passes, 8 / 8 points, and
    the last cell draws. The notebook never holds an answer."""
    _need_kernel()
    built = json.loads((homework / "student" / "homework.ipynb").read_text(encoding="utf-8"))
    text = "".join("".join(c["source"]) for c in built["cells"])
    assert not [a for a in _answers(load_spec(homework.parent / "spec.toml")) if a in text]
    stub = shutil.copytree(homework / "student", tmp_path / "stub")
    cells, text = _homework_run(stub)
    assert "Traceback" not in text and "Error" not in text and "stderr" not in json.dumps(
        [o for c in cells.values() for o in c.outputs])
    assert "q1 kl_sparsity_grad: not implemented yet" in _text(cells["question1-check"])
    assert "q2 reparameterize_backward: not implemented yet" in _text(cells["question2-check"])
    assert "(P7): derive this — question q1" in _text(cells["question1-stub"])
    assert "penalties.py" in _text(cells["question1-stub"])
    assert "total on the public checks: 0 / 8 points" in _text(cells["all-check"])
    assert "not implemented yet" in _text(cells["finale"]) and not _images(cells["finale"])

    solved = shutil.copytree(homework / "student", tmp_path / "solved")
    shutil.copytree(homework / "solutions" / "npae", solved / "npae", dirs_exist_ok=True)
    cells, text = _homework_run(solved)
    assert "Traceback" not in text
    assert "q1 kl_sparsity_grad: passes all" in _text(cells["question1-check"])
    assert "q2 reparameterize_backward: passes all" in _text(cells["question2-check"])
    assert "q1: 5 / 5 points" in _text(cells["all-check"])
    assert "total on the public checks: 8 / 8 points" in _text(cells["all-check"])
    assert len(_images(cells["finale"])) == 3          # code histogram, VAE recon, samples
    assert "not implemented yet" not in _text(cells["finale"])


def test_homework_notebook_for_an_exercise_without_latex_uses_its_summary(tmp_path,
                                                                         monkeypatch):
    """A teacher's own exercise may have no ``latex``: the question still reads."""
    import dataclasses

    from npae.assignments.notebook import homework_notebook
    ex = dataclasses.replace(CATALOG["npae.penalties:weight_decay_grad"], latex="")
    monkeypatch.setitem(CATALOG, ex.id, ex)
    (tmp_path / "ASSIGNMENT.md").write_text("x")
    nb = homework_notebook(Assignment("t", (Question("q1", ex.id, 2.0),)), tmp_path)
    md = next("".join(c["source"]) for c in nb["cells"] if c["id"] == "question1-derive")
    assert "$$" not in md and ex.summary in md and "(2 points)" in md
