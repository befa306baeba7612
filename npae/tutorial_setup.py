"""What every tutorial does first, for a tutorial run from anywhere.

* figures are written to files; in a Jupyter kernel they are also shown inline, once
  per cell that draws them (:mod:`npae.inline`: the ``plotting.save_figure`` a tutorial
  calls to write a figure displays it too);
* matplotlib's Agg backend is selected only outside IPython (a script, CI, no display),
  so a script never needs a display; inside a kernel or IPython the backend is left as
  it is (pyplot figures show inline as usual);
* ``FAST`` is true under ``NPAE_FAST=1`` (tiny sizes, used by the tests);
* ``OUT`` is the figure folder, ``NPAE_TUTORIAL_OUT`` or ``tutorial-output/``, and
  ``out(name)`` a path in it; ``START`` the time the tutorial started;
* the npae that was loaded, and from where, is printed.

Inside a checkout, ``tutorials/_setup.py`` first puts the checkout's own npae on the
path and then imports this module; a tutorial copied out of the repository falls back
to importing this module directly, from the installed npae.
"""
import os
import time
from pathlib import Path

import matplotlib

from npae import inline

if not inline.in_ipython():                 # a script, CI, no display: files only
    matplotlib.use("Agg")
INLINE = inline.enable()                    # True in a Jupyter kernel

import npae  # noqa: E402

NPAE_PATH = Path(npae.__file__).resolve().parent
FAST = os.environ.get("NPAE_FAST") == "1"
OUT = os.environ.get("NPAE_TUTORIAL_OUT", "tutorial-output")
os.makedirs(OUT, exist_ok=True)
START = time.perf_counter()
print(f"npae {npae.__version__} from {NPAE_PATH}; fast mode: {FAST}; figures go to {OUT}/"
      + (" and show below each cell that draws them" if INLINE else ""))


def out(name):
    """The path of figure ``name`` in the output folder."""
    return os.path.join(OUT, name)
