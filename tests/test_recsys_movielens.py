"""MovieLens: the loader (search order, formats, download from a local file:// URL, never
the web) and the paper's preprocessing on ML-100K when the data is at hand."""
import zipfile

import numpy as np
import pytest

import npae
from npae.datasets.movielens import load_movielens, load_movielens_titles
from npae.recsys import clicks_from_ratings, strong_generalization_split

ML1M_LINES = "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n"


def _zip(tmp_path, name, files):
    path = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as z:
        for fname, content in files.items():
            z.writestr(f"{name}/{fname}", content)
    return path


def test_download_from_a_file_url_extracts_and_loads(tmp_path):
    zpath = _zip(tmp_path, "ml-1m", {"ratings.dat": ML1M_LINES,
                                     "movies.dat": "10::Heat (1995)::Action\n20::Up::Kids\n"})
    r = load_movielens("ml-1m", data_dir=tmp_path / "data", download=True,
                       url=zpath.as_uri(), progress=False)
    np.testing.assert_array_equal(r.users, [1, 1, 2])
    np.testing.assert_array_equal(r.items, [10, 20, 10])
    np.testing.assert_array_equal(r.ratings, [5, 3, 4])
    assert (tmp_path / "data" / "ml-1m" / "ratings.dat").is_file()
    assert load_movielens_titles("ml-1m", data_dir=tmp_path / "data") == {10: "Heat (1995)",
                                                                          20: "Up"}
    assert not list((tmp_path / "data" / "ml-1m").glob(".*"))        # no temporary left


def test_ml20m_csv_with_header_and_half_stars(tmp_path):
    folder = tmp_path / "ml-20m"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n"
                                        "1,29,4.0,1112484676\n")
    (folder / "movies.csv").write_text('movieId,title,genres\n2,"Jumanji, The (1995)",Adventure\n')
    r = load_movielens("ml-20m", data_dir=tmp_path)
    np.testing.assert_array_equal(r.ratings, [3.5, 4.0])
    assert load_movielens_titles("ml-20m", data_dir=tmp_path) == {2: "Jumanji, The (1995)"}


def test_a_corrupt_ml100k_download_is_refused_and_leaves_nothing(tmp_path):
    zpath = _zip(tmp_path, "ml-100k", {"u.data": "1\t2\t3\t4\n"})
    with pytest.raises(OSError, match="SHA-256"):
        load_movielens("ml-100k", data_dir=tmp_path / "d", download=True, url=zpath.as_uri(),
                       progress=False)
    assert not any((tmp_path / "d" / "ml-100k").iterdir())


def test_missing_data_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="forbid redistribution"):
        load_movielens("ml-100k", data_dir=tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        load_movielens("ml-10m", data_dir=tmp_path)


def test_ml100k_clicks_match_the_published_counts(ml100k):
    r = load_movielens("ml-100k", data_dir=ml100k)
    assert len(r) == 100_000 and len(np.unique(r.users)) == 943
    users, items = clicks_from_ratings(r.users, r.items, r.ratings)
    assert len(users) == 55_361 and len(np.unique(users)) == 938   # shared/data README


def test_ml100k_download_of_the_real_file_passes_its_checksum(ml100k, tmp_path):
    zpath = _zip(tmp_path, "ml-100k", {"u.data": (ml100k / "u.data").read_bytes()})
    r = load_movielens("ml-100k", data_dir=tmp_path / "d", download=True, url=zpath.as_uri(),
                       progress=False)
    assert len(r) == 100_000


@pytest.mark.slow
def test_mult_vae_learns_to_rank_on_ml100k(ml100k):
    """A few epochs on ML-100K beat popularity on the validation users (NDCG@100)."""
    r = load_movielens("ml-100k", data_dir=ml100k)
    split = strong_generalization_split(*clicks_from_ratings(r.users, r.items, r.ratings),
                                        n_heldout_users=100, random_state=0)
    pop = npae.Popularity().fit(split.train)
    k = 100
    base = np.mean(npae.recsys.ndcg_at_k(pop.recommend(split.val_foldin, k=k),
                                         split.val_heldout, k))
    model = npae.MultVAE(hidden_layer_sizes=(100,), latent_dim=20, epochs=15, batch_size=100,
                         kl_warmup_steps=50, random_state=0, verbose=False)
    model.fit(split.train, X_val=(split.val_foldin, split.val_heldout))
    best = max(model.history_["val_ndcg@100"])
    print(f"validation NDCG@100: popularity {base:.4f}, Mult-VAE {best:.4f}")
    assert best > base + 0.01
