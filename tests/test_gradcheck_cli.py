"""python -m npae gradcheck: a user's own forward/backward, JSON reports, directional mode."""
import json

import pytest

from npae.cli import main

USER_FILE = '''
import numpy as np

def forward(x, w):
    return np.tanh(x @ w)

def backward(G, x, w):
    d = G * (1 - np.tanh(x @ w) ** 2)
    return d @ w.T, x.T @ d

def backward_sign(G, x, w):
    dx, dw = backward(G, x, w)
    return dx, -dw

def backward_shape(G, x, w):
    return G, G

def kl(h, rho=0.2):
    return np.sum(rho * np.log(rho / h.mean(0)) + (1 - rho) * np.log((1 - rho) / (1 - h.mean(0))))

def kl_backward(G, h, rho=0.2):
    r = h.mean(0)
    return G * (-rho / r + (1 - rho) / (1 - r)) / h.shape[0] * np.ones_like(h)

not_callable = 3
'''


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(USER_FILE)
    return path


def test_a_correct_user_pair_passes(user_file, capsys):
    assert main(["gradcheck", "--function", f"{user_file}:forward:backward",
                 "--shape", "4,3", "--shape", "3,2"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and " x " in out and " w " in out


def test_a_wrong_user_backward_fails_with_its_diagnosis(user_file, capsys):
    assert main(["gradcheck", "--function", f"{user_file}:forward:backward_sign",
                 "--shape", "4,3", "--shape", "3,2"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "sign is flipped" in out


def test_low_high_keep_inputs_in_a_domain_and_json_is_parseable(user_file, capsys):
    assert main(["gradcheck", "--function", f"{user_file}:kl:kl_backward", "--shape", "5,3",
                 "--low", "0.05", "--high", "0.95", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["rows"][0]["name"] == "h"


@pytest.mark.parametrize("spec,shapes,message", [
    ("nofile.py:forward:backward", ["4,3", "3,2"], "no file"),
    ("{f}:forward:nope", ["4,3", "3,2"], "has no function 'nope'"),
    ("{f}:forward:not_callable", ["4,3", "3,2"], "is not callable"),
    ("{f}:forward", ["4,3"], "must be FILE.py:FORWARD:BACKWARD"),
    ("{f}:forward:backward", ["4,3"], "takes 2 input(s), got 1"),
    ("{f}:forward:backward_shape", ["4,3", "3,2"], "has shape (4, 2), expected (4, 3)"),
])
def test_bad_function_specs_exit_2_with_one_line(user_file, spec, shapes, message, capsys,
                                                 monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    argv = ["gradcheck", "--function", spec.format(f=user_file)]
    for s in shapes:
        argv += ["--shape", s]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_model_check_as_json_and_in_directional_mode(capsys):
    assert main(["gradcheck", "sparse", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and {r["term"] for r in report["rows"]} >= {"recon", "sparsity"}
    assert all(r["where"] for r in report["rows"])
    assert main(["gradcheck", "vae", "--directions", "4"]) == 0
    out = capsys.readouterr().out
    assert "~mu.W" in out and "PASS" in out


def test_gradcheck_needs_a_model_or_a_function(capsys):
    assert main(["gradcheck"]) == 2
    assert "needs a model name or --function" in capsys.readouterr().err
