"""The minibatch loop: batching, progress display, validation noise."""
import io

import numpy as np

import npae
from npae.training import Progress, batches


def test_batches_cover_every_row_once_with_a_short_last_batch():
    order = np.random.default_rng(0).permutation(10)
    got = list(batches(10, 4, order))
    assert [len(b) for b in got] == [4, 4, 2]
    assert sorted(np.concatenate(got)) == list(range(10))


class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_appears_only_on_long_runs_and_when_enabled():
    out = _TTY()
    p = Progress(epochs=2, n_batches=10, enabled=True, delay=0.0, stream=out)
    p.update(0, 4, 1.5)
    p.end_epoch(0, {"loss": 1.25, "val_loss": 1.5})
    text = out.getvalue()
    assert "epoch 1/2" in text and "1.2500" in text and "val_loss" in text
    quiet = _TTY()
    q = Progress(epochs=2, n_batches=10, enabled=False, delay=0.0, stream=quiet)
    q.update(0, 4, 1.5)
    q.end_epoch(0, {"loss": 1.0})
    assert quiet.getvalue() == ""
    slow = _TTY()
    Progress(epochs=2, n_batches=10, enabled=True, delay=60.0, stream=slow).end_epoch(0, {"loss": 1.0})
    assert slow.getvalue() == ""


def test_history_has_one_row_per_epoch_for_every_term():
    X = np.random.default_rng(1).uniform(size=(50, 6))
    m = npae.Autoencoder((3,), weight_decay=0.01, epochs=3, batch_size=16, random_state=0,
                         verbose=False).fit(X, X_val=X[:10])
    lengths = {k: len(v) for k, v in m.history_.items()}
    assert set(lengths.values()) == {3}
    loss = np.array(m.history_["loss"])
    parts = np.array(m.history_["recon"]) + np.array(m.history_["weight_decay"])
    np.testing.assert_allclose(loss, parts, rtol=1e-5)
