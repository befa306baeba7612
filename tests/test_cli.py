"""python -m npae: every subcommand runs, bad arguments exit 2 with a one-line message."""
import json
import subprocess
import sys

import pytest

from npae.cli import main


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "npae", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_help_is_available_for_every_subcommand(capsys):
    for cmd in ([], ["demo"], ["train"], ["gradcheck"], ["download"]):
        with pytest.raises(SystemExit) as exc:
            main([*cmd, "--help"])
        assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["frobnicate"], "invalid choice"),
    (["demo", "--epochs", "0"], "expected a positive integer"),
    (["train", "nosuchmodel"], "unknown model"),
    (["train", "autoencoder", "--hidden", "64,x"], "comma-separated integers"),
    (["train", "autoencoder", "--lr", "-1"], "expected a positive number"),
    (["train", "autoencoder", "--dataset", "cifar"], "unknown dataset"),
    (["gradcheck", "autoencoder", "--activation", "gelu"], "activation must be one of"),
])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_gradcheck_prints_a_passing_table_for_a_tied_autoencoder(capsys):
    assert main(["gradcheck", "autoencoder", "--tied"]) == 0
    out = capsys.readouterr().out
    assert "enc.0.W" in out and "dec.0.b" in out and "input X" in out and "PASS" in out
    assert "dec.0.W" not in out           # tied: the decoder owns only its biases


@pytest.mark.parametrize("model", ["autoencoder", "sparse", "ksparse", "denoising",
                                   "contractive", "vae", "stacked"])
def test_gradcheck_passes_for_every_model_with_its_defaults(model, capsys):
    assert main(["gradcheck", model]) == 0
    assert "PASS" in capsys.readouterr().out


@pytest.mark.slow      # over a second: the quick loop stays about a minute
def test_demo_writes_figures_summary_and_checkpoint(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--dataset", "glyphs", "--epochs", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "glyph-digits" and summary["epochs"] == 1
    for name in summary["figures"].values():
        assert (out / name).stat().st_size > 1000
    assert (out / "model.npz").exists()
    assert "test BCE / image" in capsys.readouterr().out


@pytest.mark.slow      # over a second: the quick loop stays about a minute
def test_train_saves_a_loadable_checkpoint_and_history(tmp_path):
    import npae
    out = tmp_path / "ae"
    assert main(["train", "autoencoder", "--dataset", "glyphs", "--epochs", "1", "--hidden",
                 "32,8", "--set", "weight_decay=0.0001", "--out", str(out)]) == 0
    model = npae.load(out / "model.npz")
    assert model.hidden_layer_sizes == (32, 8) and model.weight_decay == 0.0001
    assert json.loads((out / "history.json").read_text())["epoch"] == [1]


def test_download_from_a_file_url_and_failure_exit_code(tmp_path, capsys):
    assert main(["download", "mnist", "--data-dir", str(tmp_path),
                 "--mirror", (tmp_path / "nowhere").as_uri()]) != 0
    assert "error" in capsys.readouterr().err


def test_module_entry_point_runs():
    res = run("gradcheck", "autoencoder", "--hidden", "4")
    assert res.returncode == 0 and "PASS" in res.stdout
