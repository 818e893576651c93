"""Jets generated here: Pythia 8 events, FastJet anti-kT jets, constituents, images and the hls4ml features.

Nothing is downloaded. `generate(["top", "qcd"], 2000, seed=1)` returns 2,000 jets of each process (`Jets`: a
mapping of arrays, the keys of `nn2fpga jets -o FILE.npz`). The physics (the Pythia settings per process, the
truth matching, the jet selection, the features) is `nn2fpga.datasets.events` and
`nn2fpga.datasets.substructure`; docs/physics.md gives every setting with its source.

Work is split into chunks of CHUNK jets of one process, each with a Pythia seed derived from (seed, process,
chunk index) alone, so the result is the same bit for bit for any number of worker processes, and a request
for more jets extends a smaller one. Chunks run one per core (`workers`, default the machine's cores) in
worker processes and are cached under `$XDG_CACHE_HOME/nn2fpga/jets/` (default `~/.cache/nn2fpga/jets/`),
keyed by the chunk's settings; a cached chunk is used only when its manifest's settings and SHA-256 match the
file, otherwise it is generated again. Images are made from the stored constituents on request (`images`),
at any size, and are never cached.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nn2fpga.ir.errors import UserError

PROCESSES = ("top", "qcd", "w", "z", "quark", "gluon")
TOP_BIN = (550.0, 650.0)  # GeV: the top-tagging reference data set (Kasieczka et al., arXiv 1902.09914)
HLS4ML_BIN = (950.0, 1050.0)  # GeV: about 1 TeV, the hls4ml jet data set's bin (arXiv 1804.06913)
CHUNK = 500  # jets per unit of work and of the cache (Pythia starts once per chunk: 0.14 s)
MAX_CONSTITUENTS = 200
GENERATOR_VERSION = 1  # bump when the generated arrays change for the same settings
KEYS = ("constituents", "pt", "eta", "phi", "mass", "sd_mass", "n_constituents")  # every chunk has these


class JetsError(UserError):
    """Bad arguments to the generator, or the physics extra missing."""


@dataclass(frozen=True)
class Settings:
    """What a chunk's arrays depend on (its cache key, with the process, seed and chunk index)."""

    pt_min: float = TOP_BIN[0]
    pt_max: float = TOP_BIN[1]
    eta_max: float = 2.0
    radius: float = 0.8
    ecm: float = 14000.0
    features: bool = False
    version: int = GENERATOR_VERSION


def check_physics() -> None:
    """Raise JetsError naming the extra when pythia8mc or fastjet is missing."""
    import importlib.util

    missing = [m for m in ("pythia8mc", "fastjet", "awkward") if importlib.util.find_spec(m) is None]
    if missing:
        raise JetsError(f"jet generation needs {', '.join(missing)}: pip install 'nn2fpga[physics]'")


def chunk_seed(seed: int, process: str, index: int) -> int:
    """The Pythia seed of one chunk (Pythia takes 1 ... 900,000,000)."""
    digest = hashlib.sha256(f"{seed}/{process}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % 900_000_000 + 1


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nn2fpga" / "jets"


def _key(process: str, seed: int, index: int, jets: int, settings: Settings) -> dict:
    return {"process": process, "seed": seed, "chunk": index, "jets": jets, **asdict(settings)}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load_cached(path: Path, key: dict) -> dict[str, np.ndarray] | None:
    """The chunk at `path` when its manifest names `key` and the file's SHA-256, else None (with a warning
    when a file is there but does not verify)."""
    manifest = path.with_suffix(".json")
    if not path.exists() or not manifest.exists():
        return None
    try:
        meta = json.loads(manifest.read_text())
        data = path.read_bytes()
        if meta.get("key") != key or meta.get("sha256") != _digest(data):
            raise ValueError("settings or SHA-256 differ")
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        need = KEYS + (("features",) if key["features"] else ())
        if any(k not in arrays or len(arrays[k]) != key["jets"] for k in need):
            raise ValueError("arrays missing or of the wrong length")
    except (OSError, ValueError) as exc:
        warnings.warn(f"jet cache {path}: {exc}; generating the chunk again", stacklevel=3)
        return None
    return arrays


def _store(path: Path, key: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write the chunk and then its manifest, each through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    tmp.write_text(json.dumps({"key": key, "sha256": _digest(data)}, sort_keys=True))
    tmp.replace(path.with_suffix(".json"))


def _chunk(job: tuple[str, int, int, int, Settings, bool]) -> tuple[str, int, dict[str, np.ndarray]]:
    """One chunk, from the cache or generated (runs in a worker process). A chunk of fewer than CHUNK jets (the
    last of a request) is the first jets of the full chunk: events are consumed in the same order."""
    process, seed, index, count, settings, cache = job
    key = _key(process, seed, index, count, settings)
    path = _cache_dir() / f"{_digest(json.dumps(key, sort_keys=True).encode())[:32]}.npz"
    arrays = _load_cached(path, key) if cache else None
    if arrays is None:
        from nn2fpga.datasets import events

        arrays = events.generate_chunk(process, count, chunk_seed(seed, process, index), settings)
        if cache:
            _store(path, key, arrays)
    return process, index, arrays


class Jets(dict):
    """The generated jets: name -> array, the keys of `nn2fpga jets -o FILE.npz` (docs/physics.md)."""

    @property
    def label_names(self) -> list[str]:
        return [str(x) for x in self["label_names"]]

    def images(self, size: int = 40) -> np.ndarray:
        """(n, size, size) float32 jet images made from the constituents (`substructure.images`)."""
        from nn2fpga.datasets.substructure import images

        return images(self["constituents"], self["eta"], self["phi"], size, self["radius"])

    def save(self, path: str | os.PathLike, image_size: int | None = 40, constituents: bool = True) -> None:
        """Write an .npz (images at `image_size` included unless None; constituents unless False), through a
        temporary file."""
        arrays = {k: v for k, v in self.items() if constituents or k != "constituents"}
        if image_size:
            arrays["images"] = self.images(image_size)
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        tmp.replace(path)


def check_arguments(processes: Sequence[str], n: int, image_size: int | None, pt_range: Sequence[float]) -> None:
    """JetsError (one line naming the argument) for an unknown process, n <= 0, a bad image size or pT bin."""
    bad = [p for p in processes if p not in PROCESSES]
    if not processes or bad:
        raise JetsError(f"process (-p) {bad[0] if bad else '(none)'!r}: choose from {', '.join(PROCESSES)}")
    if len(set(processes)) != len(processes):
        raise JetsError(f"processes given twice: {', '.join(p for p in PROCESSES if list(processes).count(p) > 1)}")
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise JetsError(f"jets per process (-n): expected an integer > 0, got {n!r}")
    if image_size is not None and (not isinstance(image_size, int) or not 8 <= image_size <= 512 or image_size % 2):
        raise JetsError(
            f"image size (--image-size): expected an even number of pixels from 8 to 512, got {image_size!r}"
        )
    lo, hi = pt_range
    if not 0 < lo < hi:
        raise JetsError(f"pT bin (--pt-min, --pt-max): expected 0 < min < max GeV, got {lo:g} .. {hi:g}")


def generate(
    processes: Sequence[str],
    n: int,
    seed: int = 1,
    pt_range: Sequence[float] = TOP_BIN,
    features: bool = False,
    workers: int | None = None,
    cache: bool = True,
    progress: bool = False,
) -> Jets:
    """`n` jets of every process in `processes` (labels in that order), reproducible from `seed`."""
    check_arguments(list(processes), n, None, pt_range)
    check_physics()
    settings = Settings(pt_min=float(pt_range[0]), pt_max=float(pt_range[1]), features=bool(features))
    chunks = -(-n // CHUNK)
    sizes = [min(CHUNK, n - i * CHUNK) for i in range(chunks)]
    jobs = [(p, int(seed), i, sizes[i], settings, cache) for p in processes for i in range(chunks)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    done: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    from tqdm import tqdm

    bar = tqdm(total=n * len(processes), unit="jet", desc="jets", disable=not progress, leave=False)
    if workers == 1:
        results = map(_chunk, jobs)
    else:
        import multiprocessing

        # fork where there is one: a spawned worker would re-run an unguarded calling script
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = multiprocessing.get_context(method).Pool(workers)
        results = pool.imap_unordered(_chunk, jobs)
    try:
        for process, index, arrays in results:
            done[process, index] = arrays
            bar.update(sizes[index])
    finally:
        bar.close()
        if workers > 1:
            pool.terminate()
    out = Jets()
    for key in KEYS + (("features",) if features else ()):
        out[key] = np.concatenate([done[p, i][key] for p in processes for i in range(chunks)])
    if features:
        from nn2fpga.datasets.substructure import FEATURE_NAMES

        out["feature_names"] = np.array(FEATURE_NAMES)
        # per process: jets dropped for non-finite features (their chunks made up for them)
        out["dropped"] = np.array([sum(int(done[p, i]["dropped"][0]) for i in range(chunks)) for p in processes])
    out["labels"] = np.repeat(np.arange(len(processes)), n)
    out["label_names"] = np.array(list(processes))
    out["radius"] = np.float32(settings.radius)
    out["seed"] = np.int64(seed)
    return out
