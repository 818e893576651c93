"""Jets made here (nn2fpga.datasets.jets): physics sanity on a few hundred jets per process, the selection,
images, features against FastJet contrib's own observables, reproducibility, the cache, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from nn2fpga.datasets import jets  # noqa: E402
from nn2fpga.datasets.substructure import FEATURE_NAMES  # noqa: E402

N = 300


@pytest.fixture(scope="module")
def cache(tmp_path_factory, monkeypatch_module=None):
    path = tmp_path_factory.mktemp("cache")
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(path)
    yield path
    if saved is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture(scope="module")
def sample(cache):
    return jets.generate(["top", "w", "qcd"], N, seed=5, features=True, workers=2)


def _peak(mass: np.ndarray) -> float:
    counts, edges = np.histogram(mass, bins=np.arange(0, 300, 10))
    return float(edges[np.argmax(counts)] + 5)


def test_mass_peaks_where_the_physics_puts_them(sample) -> None:
    sd = {name: sample["sd_mass"][sample["labels"] == i] for i, name in enumerate(sample.label_names)}
    assert 150 <= _peak(sd["top"]) <= 190, _peak(sd["top"])
    assert 70 <= _peak(sd["w"]) <= 95, _peak(sd["w"])
    qcd = sd["qcd"]  # falls: far more QCD jets light than at the top mass
    assert np.mean((qcd > 20) & (qcd < 60)) > 3 * np.mean((qcd > 150) & (qcd < 190))
    assert np.median(qcd) < 60 < np.median(sd["w"]) < np.median(sd["top"])


def test_every_jet_meets_the_cuts(sample) -> None:
    assert len(sample["pt"]) == 3 * N and np.array_equal(np.bincount(sample["labels"]), [N] * 3)
    assert np.all((sample["pt"] > 550) & (sample["pt"] < 650)) and np.all(np.abs(sample["eta"]) < 2)
    c = sample["constituents"]
    assert c.shape == (3 * N, 200, 3) and np.all(c[:, :-1, 0] >= c[:, 1:, 0])  # hardest first, zero padded
    n = sample["n_constituents"]
    assert np.all(np.count_nonzero(c[..., 0], axis=1) == np.minimum(n, 200))
    # the constituents are the jet: their scalar pT sum is at least the jet's pT, nearly all of it within R of
    # the axis in (eta, phi) (anti-kT clusters in rapidity: a soft massive hadron can sit further out in eta)
    dphi = (c[..., 2] - sample["phi"][:, None] + np.pi) % (2 * np.pi) - np.pi
    outside = np.hypot(c[..., 1] - sample["eta"][:, None], dphi) > 0.8
    assert (c[..., 0] * outside).sum() < 1e-3 * c[..., 0].sum()
    assert np.all(c[..., 0].sum(axis=1) >= sample["pt"] * (1 - 1e-5))


@pytest.mark.parametrize("size", [40, 64, 224])
def test_images_sum_to_one_at_any_size(sample, size: int) -> None:
    images = sample.images(size)
    assert images.shape == (3 * N, size, size) and images.dtype == np.float32
    assert np.allclose(images.sum(axis=(1, 2)), 1, atol=1e-5) and images.min() >= 0
    centre = images[:, size // 2 - size // 8 : size // 2 + size // 8, size // 2 - size // 8 : size // 2 + size // 8]
    assert np.median(centre.sum(axis=(1, 2))) > 0.5  # the hardest constituents sit near the axis


def test_features_are_finite_and_named(sample) -> None:
    f = sample["features"]
    assert f.shape == (3 * N, 16) and np.all(np.isfinite(f)) and tuple(sample["feature_names"]) == FEATURE_NAMES
    assert np.array_equal(f[:, FEATURE_NAMES.index("multiplicity")], sample["n_constituents"])
    assert np.allclose(f[:, FEATURE_NAMES.index("mass_mmdt")], sample["sd_mass"])
    assert np.all(f[:, FEATURE_NAMES.index("zlogz")] < 0) and sample["dropped"].shape == (3,)


def test_correlator_features_equal_fastjet_contrib() -> None:
    """The ratios formed from generalized correlators equal contrib's C1, C2, D2, generalized D2, M2, N2."""
    import fastjet

    from nn2fpga.datasets import events, substructure

    settings = jets.Settings(features=True)
    substructure.quiet_fastjet()
    py = events.make_pythia("top", 11, settings)
    constituents, _ = events.batch_jets(py, "top", settings)
    _, groomed = substructure.softdrop(constituents, 0.8)
    ours = substructure.correlator_features(groomed)
    cs = fastjet.ClusterSequence(groomed, fastjet.JetDefinition(fastjet.cambridge_algorithm, 10.0))
    contrib = {"c1": "c1", "c2": "c2", "d2": "d2", "m2": "m2", "n2": "n2"}
    checked = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ours:
            kind, beta = name.split("_")[0], float(name.split("_b")[1].split("_")[0])
            kwargs = {"func": "generalizedd2", "alpha": 1.0} if "_a1_" in name else {"func": contrib[kind]}
            ref = np.asarray(cs.exclusive_jets_energy_correlator(njets=1, beta=beta, **kwargs), dtype=np.float64)
            ok = np.isfinite(ref)
            assert ok.sum() > 10 and np.allclose(ours[name][ok], ref[ok], rtol=1e-9, atol=0), name
            checked += 1
    assert checked == 13


def test_same_seed_same_jets_any_workers_and_cache(cache, sample) -> None:
    again = jets.generate(["top", "w", "qcd"], N, seed=5, features=True, workers=1)  # from the cache
    assert all(np.array_equal(sample[k], again[k]) for k in sample)
    fresh = jets.generate(["top"], N, seed=5, features=True, workers=1, cache=False)  # generated again
    assert all(np.array_equal(fresh[k], sample[k][sample["labels"] == 0]) for k in ("constituents", "features"))
    other = jets.generate(["top"], N, seed=6, features=True, workers=1, cache=False)
    assert not np.array_equal(other["pt"], fresh["pt"])


def test_fewer_jets_are_the_first_of_more() -> None:
    few = jets.generate(["z"], 12, seed=4, workers=1, cache=False)
    more = jets.generate(["z"], 40, seed=4, workers=1, cache=False)
    assert all(np.array_equal(few[k], more[k][:12]) for k in jets.KEYS)


def test_a_damaged_cache_entry_is_not_trusted(cache) -> None:
    first = jets.generate(["z"], 10, seed=9, workers=1)
    files = sorted((cache / "nn2fpga" / "jets").glob("*.npz"))
    target = max(files, key=lambda f: f.stat().st_mtime)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="SHA-256 differ; generating the chunk again"):
        second = jets.generate(["z"], 10, seed=9, workers=1)
    assert all(np.array_equal(first[k], second[k]) for k in first)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nn2fpga.cli", *args], capture_output=True, text=True, timeout=300)


def test_cli_writes_the_documented_keys(cache, tmp_path: Path) -> None:
    out = tmp_path / "j.npz"
    run = _cli("jets", "-p", "top", "-p", "qcd", "-n", "20", "--seed", "1", "--image-size", "32", "--features",
               "-o", str(out))  # fmt: skip
    assert run.returncode == 0, run.stderr
    with np.load(out) as z:
        keys = set(z.files)
        assert {"images", "features", "feature_names", "labels", "label_names", "pt", "eta", "phi", "mass",
                "sd_mass"} <= keys  # fmt: skip
        assert z["images"].shape == (40, 32, 32) and list(z["label_names"]) == ["top", "qcd"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "higgs", "-n", "5"], "process (-p) 'higgs': choose from top, qcd"),
        (["-p", "top", "-n", "0"], "jets per process (-n): expected an integer > 0, got 0"),
        (["-p", "top", "-n", "5", "--image-size", "41"], "even number of pixels from 8 to 512, got 41"),
        (["-p", "top", "-n", "5", "--pt-min", "700"], "expected 0 < min < max GeV"),
        (["-n", "5"], "process (-p) '(none)'"),
    ],
)
def test_cli_errors_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    run = _cli("jets", *args, "-o", str(tmp_path / "x.npz"))
    assert run.returncode == 2 and message in run.stderr and run.stderr.count("\n") == 1, run.stderr
    assert not (tmp_path / "x.npz").exists()


def test_the_shipped_jets_are_what_the_generator_makes() -> None:
    """The demo's 5-class file is the generator's output for its command: its first top jets regenerate."""
    from nn2fpga.datasets import HLS4ML_JETS_COMMAND, hls4ml_jets

    shipped = hls4ml_jets()
    assert "--seed 1" in HLS4ML_JETS_COMMAND and int(shipped["seed"]) == 1
    names = [str(n) for n in shipped["label_names"]]
    top = shipped["labels"] == names.index("top")
    again = jets.generate(["top"], 20, seed=1, pt_range=jets.HLS4ML_BIN, features=True, workers=1, cache=False)
    for key in ("features", "pt", "eta", "phi", "mass", "sd_mass", "n_constituents"):
        assert np.array_equal(again[key], shipped[key][top][:20]), key
