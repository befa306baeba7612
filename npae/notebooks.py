"""``python -m npae notebooks``: the tutorials as Jupyter notebooks (``.ipynb``).

A tutorial is a *percent-format* script: ``# %%`` starts a code cell, ``# %% [markdown]``
a text cell whose lines are comments (``# ``, then Markdown with LaTeX); a jupytext
header (``# ---`` ... ``# ---``) before the first cell is notebook metadata, not a cell.
Each becomes an nbformat 4.5 notebook, written with the standard library's json, so
npae needs neither jupytext nor nbformat:

* a Markdown cell keeps its text, LaTeX included, with the comment marks removed;
* a code cell keeps its lines;
* a first code cell, added, puts the checkout's npae on the path, as
  ``tutorials/_setup.py`` does, and ``tutorials/`` too, so the tutorial's own
  ``from _setup import ...`` runs unchanged. When the checkout is gone the tutorial
  falls back to the installed npae (``npae.tutorial_setup``), as a script copied out of
  the repository does.

Figures show inline once the tutorial imports :mod:`npae.tutorial_setup`
(:mod:`npae.inline`), and are saved to files as in a script. Notebooks that already
exist are kept (a student's edits are never overwritten) unless ``force`` is set.

The small builders :func:`code_cell`, :func:`markdown_cell` and :func:`notebook` are
shared with the homework notebook (:mod:`npae.assignments.notebook`).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .persistence import atomic_write

CELL = re.compile(r"^# %%(.*)$")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
DEFAULT_OUT = "npae-notebooks"


# -- nbformat 4 as plain dicts ----------------------------------------------------------------

def _lines(text):
    """nbformat's multiline string: a list of lines, each but the last ending in a newline."""
    return text.splitlines(keepends=True)


def code_cell(source, cell_id):
    return {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {},
            "outputs": [], "source": _lines(source)}


def markdown_cell(source, cell_id):
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": _lines(source)}


def notebook(cells):
    """An nbformat 4.5 notebook holding ``cells`` (dicts from the two builders above)."""
    return {"cells": list(cells), "metadata": {"kernelspec": dict(KERNELSPEC),
                                               "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def dumps(nb):
    """The notebook as the text Jupyter writes (1-space indent, UTF-8, final newline)."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


# -- percent format -----------------------------------------------------------------------------

def _strip_header(lines):
    """Drop a leading jupytext YAML header (``# ---`` ... ``# ---``)."""
    if lines and lines[0].strip() == "# ---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "# ---":
                return lines[i + 1:]
    return lines


def _uncomment(line):
    """One line of a Markdown cell: ``# text`` -> ``text``, ``#`` -> an empty line."""
    if line.startswith("# "):
        return line[2:]
    return line[1:] if line.startswith("#") else line


def percent_cells(text):
    """``[(kind, source)]`` of a percent-format script, kind ``"code"`` or ``"markdown"``."""
    cells, kind, body = [], "code", []

    def close():
        if kind == "markdown":
            source = "\n".join(_uncomment(line) for line in body)
        else:
            source = "\n".join(body)
        source = source.strip("\n")
        if source.strip():
            cells.append((kind, source))

    for line in _strip_header(text.splitlines()):
        m = CELL.match(line)
        if m is None:
            body.append(line)
            continue
        close()
        kind = "markdown" if re.match(r"\s*\[(markdown|md)\]", m.group(1)) else "code"
        body = []
    close()
    return cells


def setup_source(tutorial):
    """The notebook's first cell: the checkout of ``tutorial`` on the path, as _setup.py does."""
    checkout = Path(tutorial).resolve().parent.parent
    return (f"# Written by `python -m npae notebooks` from tutorials/{Path(tutorial).name}.\n"
            "# As tutorials/_setup.py does: the checkout's own npae first (while it holds\n"
            "# npae/), and tutorials/ on the path so that `from _setup import ...` finds it;\n"
            "# without the checkout the tutorial falls back to the installed npae.\n"
            "import sys\n"
            "from pathlib import Path\n\n"
            f"CHECKOUT = Path({str(checkout)!r})\n"
            'if (CHECKOUT / "npae" / "__init__.py").is_file():\n'
            '    sys.path.insert(0, str(CHECKOUT / "tutorials"))\n'
            "    sys.path.insert(0, str(CHECKOUT))\n")


def tutorial_notebook(path):
    """The notebook of the percent-format tutorial at ``path``, as a JSON-able dict."""
    path = Path(path)
    cells = [code_cell(setup_source(path), "npae-setup")]
    for i, (kind, source) in enumerate(percent_cells(path.read_text(encoding="utf-8")), 1):
        make = markdown_cell if kind == "markdown" else code_cell
        cells.append(make(source, f"cell-{i}"))
    return notebook(cells)


# -- the command ------------------------------------------------------------------------------

def tutorials_dir():
    """``tutorials/`` of the checkout that holds this npae."""
    folder = Path(__file__).resolve().parent.parent / "tutorials"
    if not folder.is_dir():
        raise ValueError(f"no tutorials/ folder beside npae ({folder}): the tutorials come "
                         "with a checkout of the repository, not with an installed package")
    return folder


def select_tutorials(names=(), folder=None):
    """The tutorial files named by ``names`` (all when empty): ``02``, ``02_sparse`` or
    ``02_sparse.py``; an unknown name is an error that lists the tutorials."""
    folder = tutorials_dir() if folder is None else Path(folder)
    available = sorted(folder.glob("[0-9][0-9]_*.py"))
    if not names:
        return available
    chosen = []
    for name in names:
        found = [p for p in available if name in (p.name, p.stem, p.stem.split("_")[0])]
        if not found:
            raise ValueError(f"unknown tutorial {name!r}; choose from "
                             f"{', '.join(p.stem for p in available)} (or their numbers)")
        chosen += [p for p in found if p not in chosen]
    return chosen


def _out_folder(out):
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a folder, got the existing file {str(out)!r}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {str(out)!r}: cannot create the folder "
                         f"({exc.strerror or exc})") from None
    return out


def write_notebooks(out=DEFAULT_OUT, names=(), force=False, log=print):
    """Write ``out/NN_topic.ipynb`` for each chosen tutorial; returns the paths written.

    An existing notebook is kept (it may hold a student's work) unless ``force``.
    """
    tutorials = select_tutorials(names)
    out = _out_folder(out)
    written = []
    for path in tutorials:
        target = out / f"{path.stem}.ipynb"
        if target.exists() and not force:
            log(f"kept {target} (it exists; --force overwrites it)")
            continue
        text = dumps(tutorial_notebook(path)).encode("utf-8")
        atomic_write(target, lambda f: f.write(text))
        written.append(target)
        log(f"wrote {target}")
    if written:
        log(f"open them with Jupyter, e.g. `jupyter notebook {out}/`")
    return written
