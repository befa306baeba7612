"""Figures inline in a Jupyter kernel, each shown once per cell.

npae's figures are pyplot-free (a ``Figure`` with an Agg canvas, see npae.plotting),
so no matplotlib backend ever shows them, and a ``Figure`` left as the last expression
of a cell shows as ``<Figure size 640x480 with 1 Axes>`` unless pyplot's inline backend
happens to be loaded. After :func:`enable` (``npae.tutorial_setup`` calls it in a
kernel):

* :func:`npae.plotting.save_figure` also displays the figure it saved, as the PNG it
  wrote (rendered to PNG when the file is a PDF or SVG), where the cell draws it;
* a ``Figure`` left as the value of a cell is displayed as a PNG, unless it was
  already shown in that cell; nothing else is printed for it;

so every cell that draws shows each of its figures once, and the figures are still
written to files. A pyplot figure that is shown is closed, so the inline backend does
not draw it a second time at the end of the cell. Outside a kernel (a script, CI, the
tests, a terminal) :func:`enable` does nothing and returns False.
"""
from __future__ import annotations

import io
import sys
import weakref
from pathlib import Path

_state = {"on": False}
_shown = weakref.WeakKeyDictionary()        # Figure -> the execution count of its cell


def _shell():
    """The running IPython shell, or None. IPython is looked up, never imported: a
    script that has not imported it is not running in a kernel."""
    ipython = sys.modules.get("IPython")
    return None if ipython is None else ipython.get_ipython()


def in_ipython():
    """True inside any IPython shell: a Jupyter kernel or the IPython terminal."""
    return _shell() is not None


def in_kernel():
    """True inside a Jupyter kernel (an IPython shell with a kernel behind it)."""
    shell = _shell()
    return shell is not None and getattr(shell, "kernel", None) is not None


def enable():
    """In a Jupyter kernel, show figures inline once per cell; returns whether it is on."""
    if not in_kernel():
        return False
    from matplotlib.figure import Figure
    formatter = _shell().display_formatter.ipython_display_formatter
    formatter.for_type(Figure, _show_value)
    _state["on"] = True
    return True


def enabled():
    return _state["on"]


def _cell():
    return getattr(_shell(), "execution_count", None)


def _render_png(fig):
    """``fig`` as PNG bytes, trimmed and on white as npae.plotting.save_figure writes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi="figure", facecolor="white", bbox_inches="tight",
                pad_inches=0.05)
    return buf.getvalue()


def show(fig, png=None):
    """Display ``fig`` as a PNG (the bytes ``png`` when given) and remember that this
    cell showed it; close it if pyplot manages it."""
    from IPython.display import display     # only ever called inside a kernel
    display({"image/png": png if png is not None else _render_png(fig)}, raw=True)
    _shown[fig] = _cell()
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)                    # no-op for a pyplot-free figure


def shown_in_this_cell(fig):
    return fig in _shown and _shown[fig] == _cell()


def saved(fig, png_path=None):
    """Called by save_figure after writing a figure: show ``fig`` (the PNG file
    ``png_path`` when it wrote one) unless this is off or the cell already showed it."""
    if not _state["on"] or not in_kernel() or shown_in_this_cell(fig):
        return
    show(fig, None if png_path is None else Path(png_path).read_bytes())


def _show_value(fig):
    """The display of a Figure that is a cell's value: once per cell, never as text."""
    if not shown_in_this_cell(fig):
        show(fig)
