"""What every tutorial does first, in one place.

* figures are written to files, never shown (matplotlib's Agg backend);
* npae is imported from the checkout this file sits in whenever that checkout holds
  npae/ (so a tutorial in an assignment's student build runs the student's code, never
  an installed reference), else from wherever it is installed; the path is printed;
* ``FAST`` is true under ``NPAE_FAST=1`` (tiny sizes, used by the tests);
* ``OUT`` is the figure folder, ``NPAE_TUTORIAL_OUT`` or ``tutorial-output/``, and
  ``out(name)`` a path in it; ``START`` the time the tutorial started.
"""
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent       # the repository, which holds npae/
if (ROOT / "npae" / "__init__.py").is_file():       # this checkout first, installed or not
    sys.path.insert(0, str(ROOT))
import npae  # noqa: E402

NPAE_PATH = Path(npae.__file__).resolve().parent

FAST = os.environ.get("NPAE_FAST") == "1"
OUT = os.environ.get("NPAE_TUTORIAL_OUT", "tutorial-output")
os.makedirs(OUT, exist_ok=True)
START = time.perf_counter()
print(f"npae {npae.__version__} from {NPAE_PATH}; fast mode: {FAST}; figures go to {OUT}/")


def out(name):
    """The path of figure ``name`` in the output folder."""
    return os.path.join(OUT, name)
