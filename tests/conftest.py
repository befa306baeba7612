"""Shared fixtures. Tests needing MNIST take ``mnist_dir`` (or ``mnist_train``) and are
marked ``@pytest.mark.mnist``; both skip the test when the files are not found."""
from pathlib import Path

import pytest

from npae.datasets import find_dataset, load_mnist
from npae.datasets.movielens import find_movielens

# shared/ sits beside the repository on developer machines and in CI.
_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def mnist_dir():
    """Folder holding MNIST's four IDX files: the usual search order, then ../shared/data."""
    folder = find_dataset("mnist") or find_dataset("mnist", data_dir=_SHARED_DATA)
    if folder is None:
        pytest.skip("MNIST not found: set NPAE_DATA or run `python -m npae download mnist`")
    return folder


@pytest.fixture(scope="session")
def mnist_train(mnist_dir):
    """``(X, y)`` of MNIST train, float32 in [0, 1]; shared by all tests: do not modify."""
    return load_mnist("train", data_dir=mnist_dir)


@pytest.fixture(scope="session")
def grading_sandbox():
    """Builds and grading run student code in npae's sandbox, which as root is another
    user (nobody) that must be able to run this Python. Where it cannot (a fresh machine
    whose Python sits under a private /root), the grading tests say so and skip; in CI
    (.ci/run makes it reachable) they fail instead."""
    import os

    from npae.assignments.sandbox import SandboxError, make_sandbox
    sandbox = make_sandbox()
    if sandbox.isolated:
        try:
            sandbox.probe([])
        except SandboxError as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(str(exc))
            pytest.skip(str(exc))
    return sandbox


@pytest.fixture(scope="session")
def ml100k():
    """Folder holding MovieLens-100K's u.data: the usual search order, then ../shared/data."""
    folder = find_movielens("ml-100k") or find_movielens("ml-100k", data_dir=_SHARED_DATA)
    if folder is None:
        pytest.skip("MovieLens-100K not found: set NPAE_DATA or call "
                    "npae.datasets.load_movielens('ml-100k', download=True)")
    return folder
