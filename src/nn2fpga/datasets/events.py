"""Events and jets: Pythia 8 (`pythia8mc`, its awkward `nextBatch` interface) and FastJet's awkward interface.

One chunk = `n` jets of one process from one Pythia seed: events are generated in batches, the visible final
state (every status > 0 particle but neutrinos) is clustered with anti-kT R = 0.8, and of each event the
hardest jet within the pT bin and |eta| < eta_max that passes the process's truth match is kept. The
settings and the match of every process are in PROCESS_SETTINGS and `_matched` (docs/physics.md gives the
sources). Everything is a function of the seed: events are consumed in order and the first `n` jets kept.
"""

from __future__ import annotations

import numpy as np

from nn2fpga.datasets import substructure
from nn2fpga.datasets.substructure import dphi, kinematics

COMMON = (
    "PartonLevel:MPI = off",  # no multiple parton interactions (as measured for the rates in docs/physics.md)
    "Next:numberCount = 0", "Next:numberShowEvent = 0", "Next:numberShowProcess = 0", "Next:numberShowInfo = 0",
    "Init:showChangedSettings = off", "Init:showAllSettings = off", "Init:showChangedParticleData = off",
    "Init:showAllParticleData = off", "Init:showProcesses = off", "Init:showMultipartonInteractions = off",
    "Print:quiet = on", "Random:setSeed = on",
    "Check:event = off",  # skip the per-event consistency checks (about 7 % of the time)
)  # fmt: skip
W_HADRONIC = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
Z_HADRONIC = ("23:onMode = off", "23:onIfAny = 1 2 3 4 5")
PROCESS_SETTINGS: dict[str, tuple[str, ...]] = {
    "top": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *W_HADRONIC),  # t tbar, both W -> q q'
    "qcd": ("HardQCD:all = on",),  # inclusive dijets
    "w": ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", *W_HADRONIC),  # W + jet, W -> q q'
    "z": ("WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on", "WeakZ0:gmZmode = 2",
          *Z_HADRONIC),  # Z + jet (no photon), Z -> q qbar
    "quark": ("HardQCD:qq2qq = on", "HardQCD:qqbar2qqbarNew = on", "HardQCD:gg2qqbar = on", "HardQCD:qg2qg = on"),
    "gluon": ("HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on"),
}  # fmt: skip
PTHAT_MARGIN = 100.0  # GeV: the hard process's pT-hat window is the jet bin widened by this on both sides
BATCH = 200  # events per nextBatch call (the results do not depend on it)
NEUTRINOS = (12, 14, 16)


def pythia_settings(process: str, seed: int, settings) -> list[str]:
    """Every readString command of one chunk's Pythia."""
    lo = max(settings.pt_min - PTHAT_MARGIN, 10.0)
    return [*COMMON, f"Beams:eCM = {settings.ecm:g}", f"Random:seed = {seed}", f"PhaseSpace:pTHatMin = {lo:g}",
            f"PhaseSpace:pTHatMax = {settings.pt_max + PTHAT_MARGIN:g}", *PROCESS_SETTINGS[process]]  # fmt: skip


def make_pythia(process: str, seed: int, settings):
    import pythia8mc

    py = pythia8mc.Pythia("", False)  # no banner
    for line in pythia_settings(process, seed, settings):
        if not py.readString(line):
            raise RuntimeError(f"Pythia refused {line!r}")
    if not py.init():
        raise RuntimeError(f"Pythia could not initialize {process}")
    return py


def _last_copy(i: int, ids, d1, d2) -> int:
    """Follow a particle through its copies (a daughter of the same id) to the one that decays."""
    while d1[i] > 0:
        same = [k for k in range(d1[i], max(d1[i], d2[i]) + 1) if ids[k] == ids[i]]
        if not same:
            break
        i = same[0]
    return i


def _quarks(i: int, ids, d1, d2) -> list[int]:
    return [k for k in range(d1[i], max(d1[i], d2[i]) + 1) if 1 <= abs(ids[k]) <= 5] if d1[i] > 0 else []


def _truth(process: str, ids, status, d1, d2) -> list[np.ndarray]:
    """The partons a jet must contain, per candidate object of the event:
    top: the top that decays (to W b), its b and the two quarks of its W (all within R: the top-tagging
    reference's containment); w / z: the boson that decays to quarks and its two quarks; quark / gluon: each
    outgoing parton of the hard process (status -23), one at a time."""
    objects = []
    if process == "top":
        for i in np.flatnonzero(np.abs(ids) == 6):
            if d1[i] <= 0:
                continue
            daughters = range(d1[i], max(d1[i], d2[i]) + 1)
            w = [k for k in daughters if abs(ids[k]) == 24]
            b = [k for k in daughters if abs(ids[k]) == 5]
            if w and b:
                objects.append(np.array([i, b[0], *_quarks(_last_copy(w[0], ids, d1, d2), ids, d1, d2)]))
    elif process in ("w", "z"):
        for i in np.flatnonzero(np.abs(ids) == (24 if process == "w" else 23)):
            q = _quarks(i, ids, d1, d2)
            if len(q) == 2:
                objects.append(np.array([i, *q]))
    else:
        objects = [np.array([i]) for i in np.flatnonzero(status == -23)]
    return objects


def _matched(process: str, jeta, jphi, event: dict, radius: float) -> np.ndarray:
    """Which candidate jets of one event pass the truth match (qcd: all). quark / gluon: the nearest outgoing
    hard parton is within R and is a quark (d, u, s, c, b) or a gluon."""
    if process == "qcd":
        return np.ones(len(jeta), bool)
    ids, st, d1, d2, peta, pphi = (event[k] for k in ("id", "status", "d1", "d2", "eta", "phi"))
    objects = _truth(process, ids, st, d1, d2)
    ok = np.zeros(len(jeta), bool)
    if not objects:
        return ok
    if process in ("quark", "gluon"):
        idx = np.concatenate(objects)
        dr = np.hypot(jeta[:, None] - peta[idx], dphi(jphi[:, None], pphi[idx]))
        near = np.argmin(dr, axis=1)
        flavour = np.abs(ids[idx[near]])
        wanted = flavour <= 5 if process == "quark" else flavour == 21
        return (dr[np.arange(len(jeta)), near] < radius) & wanted
    for o in objects:
        ok |= np.all(np.hypot(jeta[:, None] - peta[o], dphi(jphi[:, None], pphi[o])) < radius, axis=1)
    return ok


def batch_jets(py, process: str, settings) -> tuple:
    """One nextBatch of events -> (constituent four-momenta per chosen jet (awkward), jet four-momenta (n, 4))."""
    import awkward as ak
    import fastjet

    prt = py.nextBatch(BATCH).prt
    visible = prt[(prt.status > 0) & (np.abs(prt.id) != 12) & (np.abs(prt.id) != 14) & (np.abs(prt.id) != 16)]
    p = visible.p
    parts = ak.zip({"px": p.px, "py": p.py, "pz": p.pz, "E": p.e}, with_name="Momentum4D")
    cs = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.antikt_algorithm, settings.radius))
    floor = 0.8 * settings.pt_min  # jets below cannot pass; fewer to carry
    jets, members = cs.inclusive_jets(min_pt=floor), cs.constituent_index(min_pt=floor)
    per_event = ak.to_numpy(ak.num(jets))
    j4 = [ak.to_numpy(ak.flatten(jets[f])).astype(np.float64) for f in ("px", "py", "pz", "E")]
    jpt, jeta, jphi, _ = kinematics(*j4)
    event_of = np.repeat(np.arange(len(per_event)), per_event)
    first = np.concatenate([[0], np.cumsum(per_event)])
    candidate = (jpt > settings.pt_min) & (jpt < settings.pt_max) & (np.abs(jeta) < settings.eta_max)
    truth = None
    if process != "qcd" and candidate.any():
        count = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(prt)))])
        flat = {"id": prt.id, "status": prt.status, "d1": prt.daughter1, "d2": prt.daughter2}
        truth = {k: ak.to_numpy(ak.flatten(v)) for k, v in flat.items()}
        pp = ak.flatten(prt.p)
        _, truth["eta"], truth["phi"], _ = kinematics(*(ak.to_numpy(pp[f]).astype(np.float64)
                                                        for f in ("px", "py", "pz", "e")))  # fmt: skip
    chosen = []
    for ev in np.unique(event_of[candidate]):
        js = np.arange(first[ev], first[ev + 1])
        js = js[candidate[js]]
        if truth is not None:
            event = {k: v[count[ev] : count[ev + 1]] for k, v in truth.items()}
            js = js[_matched(process, jeta[js], jphi[js], event, settings.radius)]
        if len(js):
            chosen.append(js[np.argmax(jpt[js])])
    chosen = np.asarray(chosen, dtype=np.int64)
    constituents = parts[event_of[chosen]][ak.flatten(members, axis=1)[chosen]]
    return constituents, np.stack([x[chosen] for x in j4], axis=1)


def generate_chunk(process: str, n: int, seed: int, settings) -> dict[str, np.ndarray]:
    """`n` jets of `process` from Pythia seed `seed` (module docstring); with settings.features, jets whose
    features are not finite (a groomed jet of one constituent) are dropped and counted in `dropped`."""
    substructure.quiet_fastjet()
    py = make_pythia(process, seed, settings)
    parts, have, dropped = [], 0, 0
    while have < n:
        constituents, j4 = batch_jets(py, process, settings)
        if not len(j4):
            continue
        arrays = substructure.jet_arrays(constituents, j4, settings)
        if settings.features:
            bad = ~np.all(np.isfinite(arrays["features"]), axis=1)
            dropped += int(bad.sum())
            arrays = {k: v[~bad] for k, v in arrays.items()}
        parts.append(arrays)
        have += len(arrays["pt"])
    out = {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}
    out["dropped"] = np.array([dropped], dtype=np.int64)
    return out
