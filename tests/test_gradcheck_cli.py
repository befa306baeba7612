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


# -- issue 19: nothing succeeds silently ------------------------------------------------

EDGE_FILE = '''
import sys
import numpy as np

def offset(w):
    return 2e5 + 1e-7 * np.sum(np.sin(w))

def offset_flipped(G, w):
    return -G * 1e-7 * np.cos(w)

def exits(w):
    sys.exit(0)

def helper(w):
    return w + undefined_name

def raises(w):
    return helper(w)

def interrupted(G, w):
    raise KeyboardInterrupt

def chatty(w):
    print("a line the user printed")
    return np.sin(w)

def cos(G, w):
    return G * np.cos(w)

def sine(w):
    return np.sin(w)

def nan_backward(G, w):
    return G * np.cos(w) * np.nan

def matmul(x, w):
    return np.tanh(x @ w)

def matmul_backward(G, x, w):
    d = G * (1 - np.tanh(x @ w) ** 2)
    return d @ w.T, x.T @ d
'''


@pytest.fixture
def edge_file(tmp_path):
    path = tmp_path / "edge.py"
    path.write_text(EDGE_FILE)
    return path


def _run(argv, capsys):
    status = main(["gradcheck", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_gradient_below_resolution_exits_3_not_0_even_when_the_sign_is_flipped(edge_file,
                                                                                  capsys):
    """Exit status: 0 pass, 1 FAIL, 3 cannot judge (documented in --help)."""
    status, out, _ = _run(["--function", f"{edge_file}:offset:offset_flipped", "--shape",
                           "20"], capsys)
    assert status == 3 and "cannot judge" in out and "CANNOT JUDGE, not a pass" in out
    status, out, _ = _run(["--function", f"{edge_file}:offset:offset_flipped", "--shape",
                           "20", "--json"], capsys)
    assert status == 3 and json.loads(out)["verdict"] == "CANNOT JUDGE"
    from npae.cli import GRADCHECK_EXIT_STATUS
    assert "3 nothing failed but the check cannot judge" in GRADCHECK_EXIT_STATUS


def test_sys_exit_while_importing_is_reported_not_a_silent_exit_0(tmp_path, capsys):
    f = tmp_path / "quits.py"
    f.write_text("import sys\nsys.exit(0)\n")
    status, out, err = _run(["--function", f"{f}:forward:backward", "--shape", "3"], capsys)
    assert status == 2 and out == ""
    first, *frames = err.splitlines()
    assert first == f"error: --function: importing {f} called sys.exit(0)"
    assert any("quits.py\", line 2" in line for line in frames)


@pytest.mark.parametrize("fwd,bwd,status,says", [
    ("exits", "cos", 2, "exits in {f} called sys.exit(0)"),
    ("raises", "cos", 2, "raises in {f} raised NameError: name 'undefined_name'"),
    ("sine", "interrupted", 130, "interrupted in {f} was interrupted (KeyboardInterrupt)"),
])
def test_user_code_that_exits_raises_or_is_interrupted_is_named_with_its_own_frames(
        edge_file, capsys, fwd, bwd, status, says):
    got, out, err = _run(["--function", f"{edge_file}:{fwd}:{bwd}", "--shape", "3"], capsys)
    assert got == status and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("error: --function: " + says.format(f=edge_file)), err
    frames = [line for line in lines if line.lstrip().startswith("File ")]
    assert frames and all("edge.py" in line for line in frames), err   # no npae internals
    if fwd == "raises":
        assert [line.split()[-1] for line in frames] == ["raises", "helper"]


def test_json_is_one_strict_document_and_user_prints_go_to_stderr(edge_file, capsys):
    status, out, err = _run(["--function", f"{edge_file}:chatty:cos", "--shape", "3",
                             "--json"], capsys)
    assert status == 0 and json.loads(out)["passed"] is True
    assert "a line the user printed" in err and "a line the user printed" not in out
    status, out, err = _run(["--function", f"{edge_file}:chatty:nan_backward", "--shape", "3",
                             "--json"], capsys)

    def refuse(token):
        raise ValueError(f"bare {token}")

    report = json.loads(out, parse_constant=refuse)             # NaN would be refused here
    assert status == 1 and report["rows"][0]["rel_error"] is None
    assert "NaN" in report["rows"][0]["null_because"]["rel_error"]


def test_an_input_too_large_to_check_entrywise_is_refused_with_an_estimate(edge_file, capsys):
    """4000×4000 would be 64 M forward calls: refused, with the time and --directions K."""
    status, _, err = _run(["--function", f"{edge_file}:matmul:matmul_backward",
                           "--shape", "4000,4000", "--shape", "4000,2"], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "64,032,000 forward calls, about" in err and "--directions K" in err


def test_the_time_limit_is_an_option_and_a_small_check_runs(edge_file, capsys):
    status, _, err = _run(["--function", f"{edge_file}:matmul:matmul_backward",
                           "--shape", "40,30", "--shape", "30,2", "--time-limit", "1e-9"],
                          capsys)
    assert status == 2 and "1,260 input entries" in err and "--directions K" in err
    status, out, _ = _run(["--function", f"{edge_file}:matmul:matmul_backward",
                           "--shape", "40,30", "--shape", "30,2", "--directions", "4",
                           "--time-limit", "1e-9"], capsys)
    assert status == 0 and "PASS" in out


@pytest.mark.parametrize("bounds,says", [
    (["--low=-inf"], "--low and --high must be finite"),
    (["--high", "inf"], "--low and --high must be finite"),
    (["--low", "nan"], "--low and --high must be finite"),
    (["--low=-1e308", "--high", "1e308"], "--high - --low must be a finite float64"),
    (["--low", "2", "--high", "1"], "--low must be below --high"),
])
def test_low_high_that_cannot_be_sampled_are_one_line_usage_errors(edge_file, capsys, bounds,
                                                                   says):
    status, _, err = _run(["--function", f"{edge_file}:chatty:cos", "--shape", "3", *bounds],
                          capsys)
    assert status == 2 and says in err and err.count("\n") == 1, err
    assert "a line the user printed" not in err          # refused before running user code
