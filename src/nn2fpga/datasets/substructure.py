"""Jet substructure on FastJet's awkward interface: padded constituents, SoftDrop mass, the 16 high-level
features of the hls4ml jet data set, and jet images.

Definitions (docs/physics.md gives the sources):
- SoftDrop with beta = 0, z_cut = 0.1, R0 = R on the C/A reclustered jet (the modified mass-drop tagger,
  mMDT): `mass_mmdt` = `sd_mass`, and every energy-correlation feature is computed on the groomed jet.
- Energy correlators with pT weights and rapidity-azimuth distances (FastJet contrib's `pt_R` measure), from
  the normalized generalized correlators  ve_N^(b) (N-point, the v smallest pairwise distances to power b):
  e2 = 1e2, e3 = 3e3;  C1^(b) = e2^(b);  C2^(b) = e3^(b) / e2^(b)^2;  D2^(b) = e3^(b) / e2^(b)^3;
  D2^(1,b) = e3^(1) / e2^(b)^(3/b);  M2^(b) = 1e3^(b) / e2^(b);  N2^(b) = 2e3^(b) / e2^(b)^2;  b = 1, 2 (C1 also
  b = 0). These equal contrib's C1, C2, D2, generalized D2 (alpha 1), M2 and N2 (tests/datasets checks them).
- zlogz = sum over constituents of z log z, z = pT_i / jet pT; multiplicity = the number of constituents.
- images: pseudorapidity x azimuth relative to the jet axis over [-R, R) each, `size` x `size` pixels, a pixel
  the summed pT of its constituents over that of all constituents in the image (so an image sums to 1).
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

FEATURE_NAMES = ("zlogz", "c1_b0_mmdt", "c1_b1_mmdt", "c1_b2_mmdt", "c2_b1_mmdt", "c2_b2_mmdt", "d2_b1_mmdt",
                 "d2_b2_mmdt", "d2_a1_b1_mmdt", "d2_a1_b2_mmdt", "m2_b1_mmdt", "m2_b2_mmdt", "n2_b1_mmdt",
                 "n2_b2_mmdt", "mass_mmdt", "multiplicity")  # fmt: skip
# correlator -> (angles v, points N, beta) of FastJet contrib's EnergyCorrelatorGeneralized
CORRELATORS = {"e2_b0": (1, 2, 0.0), "e2_b1": (1, 2, 1.0), "e2_b2": (1, 2, 2.0), "e3_b1": (3, 3, 1.0),
               "e3_b2": (3, 3, 2.0), "2e3_b1": (2, 3, 1.0), "2e3_b2": (2, 3, 2.0), "1e3_b1": (1, 3, 1.0),
               "1e3_b2": (1, 3, 2.0)}  # fmt: skip
RECLUSTER_R = 10.0  # C/A radius for reclustering one jet: all its constituents end in one exclusive jet
_quiet = False


def dphi(a, b):
    """a - b wrapped into [-pi, pi)."""
    return (a - b + np.pi) % (2 * np.pi) - np.pi


def kinematics(px, py, pz, e):
    """(pT, pseudorapidity, phi, mass) of four-momenta."""
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    m = np.sqrt(np.maximum(e * e - pt * pt - pz * pz, 0.0))
    return pt, eta, np.arctan2(py, px), m


def quiet_fastjet() -> None:
    """FastJet prints a banner to the C-level stdout on its first clustering: run that one with stdout closed."""
    global _quiet
    if _quiet:
        return
    import awkward as ak
    import fastjet

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            one = ak.Array([[{"px": 1.0, "py": 0.0, "pz": 0.0, "E": 1.0}]], with_name="Momentum4D")
            fastjet.ClusterSequence(one, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.8)).inclusive_jets()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _quiet = True


def _recluster(constituents):
    import fastjet

    return fastjet.ClusterSequence(constituents, fastjet.JetDefinition(fastjet.cambridge_algorithm, RECLUSTER_R))


def softdrop(constituents, radius: float):
    """(groomed mass per jet, groomed constituents): SoftDrop beta 0, z_cut 0.1, R0 = radius (mMDT)."""
    sd = _recluster(constituents).exclusive_jets_softdrop_grooming(
        njets=1, beta=0.0, symmetry_cut=0.1, symmetry_measure="scalar_z", R0=radius, recursion_choice="larger_pt"
    )
    return np.asarray(sd.msoftdrop, dtype=np.float64), sd.constituents


def correlator_features(groomed) -> dict[str, np.ndarray]:
    """The 13 energy-correlation features (module docstring) of the groomed jets; 0/0 (a groomed jet of one
    constituent) gives NaN."""
    cs = _recluster(groomed)
    e = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, (v, n, b) in CORRELATORS.items():
            value = cs.exclusive_jets_energy_correlator(njets=1, func="generalized", angles=v, npoint=n, beta=b,
                                                        normalized=True)  # fmt: skip
            e[key] = np.asarray(value, dtype=np.float64)
    out = {"c1_b0_mmdt": e["e2_b0"], "c1_b1_mmdt": e["e2_b1"], "c1_b2_mmdt": e["e2_b2"]}
    with np.errstate(divide="ignore", invalid="ignore"):
        for b in (1, 2):
            e2 = e[f"e2_b{b}"]
            out[f"c2_b{b}_mmdt"] = e[f"e3_b{b}"] / e2**2
            out[f"d2_b{b}_mmdt"] = e[f"e3_b{b}"] / e2**3
            out[f"d2_a1_b{b}_mmdt"] = e["e3_b1"] / e2 ** (3.0 / b)
            out[f"m2_b{b}_mmdt"] = e[f"1e3_b{b}"] / e2
            out[f"n2_b{b}_mmdt"] = e[f"2e3_b{b}"] / e2**2
    return out


def jet_arrays(constituents, j4: np.ndarray, settings, keep: int = 200) -> dict[str, np.ndarray]:
    """The stored arrays of jets given their constituents (awkward Momentum4D lists) and four-momenta
    (n, 4: px py pz E): constituents (n, keep, 3) = (pT, eta, phi) hardest first, zero-padded; pt, eta, phi,
    mass, sd_mass; n_constituents; with settings.features the (n, 16) features."""
    import awkward as ak

    n = len(j4)
    counts = ak.to_numpy(ak.num(constituents))
    c4 = [ak.to_numpy(ak.flatten(constituents[f])).astype(np.float64) for f in ("px", "py", "pz", "E")]
    cpt, ceta, cphi, _ = kinematics(*c4)
    jet_of = np.repeat(np.arange(n), counts)
    order = np.lexsort((-cpt, jet_of))  # by jet, hardest first
    rank = np.arange(len(cpt)) - np.repeat(np.cumsum(counts) - counts, counts)
    kept = rank < keep
    padded = np.zeros((n, keep, 3), np.float32)
    for k, x in enumerate((cpt, ceta, cphi)):
        padded[jet_of[order][kept], rank[kept], k] = x[order][kept]
    jpt, jeta, jphi, jm = kinematics(*j4.T)
    sd_mass, groomed = softdrop(constituents, settings.radius)
    out = {"constituents": padded, "pt": jpt, "eta": jeta, "phi": jphi, "mass": jm, "sd_mass": sd_mass,
           "n_constituents": counts.astype(np.int32)}  # fmt: skip
    if settings.features:
        z = cpt / jpt[jet_of]
        f = correlator_features(groomed)
        f["zlogz"] = np.bincount(jet_of, weights=z * np.log(z), minlength=n)
        f["mass_mmdt"], f["multiplicity"] = sd_mass, counts.astype(np.float64)
        out["features"] = np.stack([f[k] for k in FEATURE_NAMES], axis=1).astype(np.float32)
    return {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in out.items()}


def images(constituents: np.ndarray, eta: np.ndarray, phi: np.ndarray, size: int, radius: float) -> np.ndarray:
    """(n, size, size) float32 images from padded constituents (n, m, 3) = (pT, eta, phi) and the jet axes;
    axis 1 is pseudorapidity, axis 2 azimuth, both relative to the axis over [-radius, radius)."""
    n = len(constituents)
    pt = constituents[..., 0].astype(np.float64)
    deta = constituents[..., 1] - eta[:, None].astype(np.float64)
    dphi = (constituents[..., 2] - phi[:, None].astype(np.float64) + np.pi) % (2 * np.pi) - np.pi
    pixel = 2 * radius / size
    ie, ip = np.floor((deta + radius) / pixel).astype(np.int64), np.floor((dphi + radius) / pixel).astype(np.int64)
    inside = (pt > 0) & (ie >= 0) & (ie < size) & (ip >= 0) & (ip < size)
    jet = np.broadcast_to(np.arange(n)[:, None], pt.shape)[inside]
    flat = np.zeros(n * size * size, np.float64)
    np.add.at(flat, (jet * size + ie[inside]) * size + ip[inside], pt[inside])
    out = flat.reshape(n, size, size)
    total = out.sum(axis=(1, 2), keepdims=True)
    return (out / np.where(total > 0, total, 1.0)).astype(np.float32)
