"""What every tutorial in this checkout does first.

npae is imported from the checkout this file sits in whenever that checkout holds
npae/ (so a tutorial in an assignment's student build runs the student's code, never
an installed reference), else from wherever it is installed; then
:mod:`npae.tutorial_setup` selects the Agg backend outside IPython (in a Jupyter kernel
it shows figures inline instead, see npae.inline), sets ``FAST`` (``NPAE_FAST=1``), the
figure folder ``OUT`` with ``out(name)``, ``START``, and prints which npae was loaded.
A tutorial copied out of the repository imports :mod:`npae.tutorial_setup` itself; a
notebook written by ``python -m npae notebooks`` puts this folder on the path first.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent       # the repository, which holds npae/
if (ROOT / "npae" / "__init__.py").is_file():       # this checkout first, installed or not
    sys.path.insert(0, str(ROOT))

from npae.tutorial_setup import FAST, NPAE_PATH, OUT, START, out  # noqa: E402,F401
