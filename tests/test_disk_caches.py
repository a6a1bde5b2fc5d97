"""The posterior cache entry and the model-math image cache: what is read back is what was
written, and a damaged or old entry is a miss, never an error."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from lndbayes.inference import cache
from lndbayes.report import figures


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LNDBAYES_CACHE", str(tmp_path))
    return tmp_path


def _idata(seed: int) -> xr.DataTree:
    rng = np.random.default_rng(seed)
    post = xr.Dataset(
        {"effect": (("chain", "draw"), rng.normal(size=(2, 50))),
         "team_effect": (("chain", "draw", "team"), rng.normal(size=(2, 50, 3)).astype("float32"))},
        coords={"chain": [0, 1], "draw": np.arange(50), "team": ["t-a", "t-b", "t-c"]},
        attrs={"sampler": "nutpie", "seed": seed})
    stats = xr.Dataset({"diverging": (("chain", "draw"), rng.random((2, 50)) < 0.05)})
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})


def test_posterior_entry_reads_back_identical(cache_folder):
    idata, diag = _idata(1), {"rhat_max": 1.002, "converged": True, "messages": []}
    assert cache.cache_load("ab" + "0" * 62) is None
    cache.cache_save("ab" + "0" * 62, idata, diag)
    back, back_diag = cache.cache_load("ab" + "0" * 62)
    assert back.identical(idata)
    assert back["posterior"]["team_effect"].dtype == np.float32
    assert back["posterior"].attrs == {"sampler": "nutpie", "seed": 1}
    assert back_diag == diag
    # another key is another entry
    assert cache.cache_load("ab" + "1" * 62) is None


def test_damaged_or_old_format_entry_is_a_miss_and_is_rewritten(cache_folder):
    key = "cd" + "2" * 62
    folder = cache_folder / key[:2] / key
    folder.mkdir(parents=True)
    (folder / "posterior.nc").write_bytes(b"an entry of the former netCDF format")
    (folder / "fit.json").write_text("{}")
    assert cache.cache_load(key) is None            # the old format is not read
    idata = _idata(2)
    cache.cache_save(key, idata, {"converged": True})
    assert cache.cache_load(key)[0].identical(idata)
    (folder / cache.ENTRY_FILE).write_bytes(b"not a pickle")
    assert cache.cache_load(key) is None            # damaged: refit, no exception


def test_math_image_is_drawn_once_per_machine(cache_folder, monkeypatch):
    latex = r"y_{ij} \sim \mathcal{N}(\alpha_j + \tau_j T_{ij}, \sigma_y)"
    figures.math_png.cache_clear()
    first = figures.math_png(latex)
    assert first is not None and first.startswith(b"\x89PNG")
    assert len(list((cache_folder / "math").glob("*.png"))) == 1

    # a new process (empty in-process cache) reads the image from disk without drawing it
    figures.math_png.cache_clear()

    def no_drawing(*args, **kwargs):
        raise AssertionError("mathtext was called although the image is on disk")

    monkeypatch.setattr(figures.mathtext, "math_to_image", no_drawing)
    assert figures.math_png(latex) == first
    # another size is another image (drawn, so it fails here: not served from the first one)
    figures.math_png.cache_clear()
    with pytest.raises(AssertionError, match="mathtext was called"):
        figures.math_png(latex, fontsize=9)
    figures.math_png.cache_clear()


def test_math_that_mathtext_cannot_parse_is_none_and_not_cached(cache_folder):
    figures.math_png.cache_clear()
    assert figures.math_png(r"\frac{1}{") is None
    assert list((cache_folder / "math").glob("*.png")) == []
    figures.math_png.cache_clear()
