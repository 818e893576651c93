"""ResNet-50 benchmark: nn2fpga vs hls4ml on keras.applications.ResNet50 (224x224x3, 2 classes), side by side.

One run, one model (random weights, BatchNorm statistics calibrated on a few random images with
`nn2fpga.datasets.calibrate_batchnorm`, saved to a .keras file), precision result ap_fixed<22,7>,
weight ap_fixed<22,2>, bias ap_fixed<22,7>, io_stream:

a. `nn2fpga convert MODEL.keras -o DIR -c CONFIG.yml --force` from the CLI, wall clock (target <= 10 s);
b. project size on disk (du) and file count (target <= 1/3 of hls4ml's 744 MB);
c. the C simulation's g++ compile: `project.compile()` with a fresh NN2FPGA_CACHE, then the exact command
   of <project>/csim/build.log re-run alone for its wall time and peak memory (targets <= 30 s, <= 1 GB);
d. csim seconds per image on one thread (target <= 20 s and >= 5x faster than hls4ml), csim == reference
   bit for bit, and the featurizer (`avg_pool`) cosine similarity with Keras (>= 0.999 expected);
e. reference (NumPy) backend images/s (target >= 2);
f. Keras float images/s.

hls4ml (Vivado backend, io_stream, `config_from_keras_model(granularity='name')`) runs in a child process
with time limits per stage (convert+write, g++ compile, csim); whatever it does not finish is recorded,
and the numbers published in the issue (40 s, 744 MB, 20 s g++, 94 s/image) are shown next to it,
labelled "from the issue". --skip-hls4ml skips it.

Prints a table and the ratios, and writes them (machine info, date, command) into the marked
`bench:resnet50` section of docs/benchmarks.md unless --no-write.

    .venv/bin/python bench/resnet50.py [--images 2] [--ref-batch 4] [--skip-hls4ml] [--no-write]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402 - bench/ is on sys.path when run as a script
    best_of,
    command_line,
    fmt,
    machine_info,
    now,
    publish,
    ratio,
    short_error,
    timed,
)

BEGIN, END = "<!-- bench:resnet50 -->", "<!-- /bench:resnet50 -->"
PRECISION = {"result": "ap_fixed<22,7>", "weight": "ap_fixed<22,2>", "bias": "ap_fixed<22,7>"}
FEATURIZER = "avg_pool"
VENV_BIN = Path(sys.executable).parent
# hls4ml's ResNet-50 numbers as published in the issue (its machine, not this one)
ISSUE = {"convert_s": 40.0, "size_mb": 744.0, "compile_s": 20.0, "csim_s": 94.0}
TARGETS = {
    "convert_s": 10.0,
    "size_share": 1 / 3,
    "compile_s": 30.0,
    "compile_mb": 1024.0,
    "csim_s": 20.0,
    "csim_speedup": 5.0,
    "ref_rate": 2.0,
    "cosine": 0.999,
}
MB = 1e6  # sizes in decimal MB, like `du -h --si`; memory in MiB


# ---------------------------------------------------------------------------------------------- helpers


def tree_size(path: Path) -> tuple[int, int]:
    """(bytes on disk as `du -sb` counts them, number of regular files)."""
    try:
        size = int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0])
    except (IndexError, ValueError, OSError):
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return size, sum(1 for p in path.rglob("*") if p.is_file())


def breakdown(path: Path, top: int = 3) -> str:
    """The largest top-level entries of a project, e.g. 'firmware 211 MB, ir 91 MB, weights 90 MB'."""
    sizes = [(tree_size(p)[0] if p.is_dir() else p.stat().st_size, p.name) for p in path.iterdir()]
    return ", ".join(f"{name} {size / MB:,.0f} MB" for size, name in sorted(sizes, reverse=True)[:top])


def run_peak(cmd: list[str], cwd=None) -> dict:
    """Run `cmd` under /usr/bin/time: wall seconds, peak RSS in MiB of its largest process, exit code, output.

    /usr/bin/time is a small process, so the peak is the command's own. (A child forked straight from this
    Python process would report this process's RSS, hundreds of MiB with TensorFlow loaded, as its peak.)
    """
    timer = shutil.which("time", path="/usr/bin:/bin")
    with tempfile.NamedTemporaryFile("r", suffix=".time") as f:
        wrapped = [timer, "-f", "%M", "-o", f.name, *cmd] if timer else cmd
        t0 = time.perf_counter()
        proc = subprocess.run(wrapped, cwd=cwd, capture_output=True, text=True, errors="replace")
        seconds = time.perf_counter() - t0
        try:
            peak = int(f.read().strip().splitlines()[-1]) / 1024
        except (IndexError, ValueError):
            peak = float("nan")  # no /usr/bin/time: memory not measured
    return {"seconds": seconds, "peak_mb": peak, "rc": proc.returncode, "output": (proc.stdout + proc.stderr)[-500:]}


def measure_gxx(build_log: Path, work: Path) -> dict:
    """Re-run the exact g++ command of build.log (output redirected) alone: wall time and peak RSS."""
    cmd = shlex.split(build_log.read_text().splitlines()[0])
    cmd[cmd.index("-o") + 1] = str(work / "gxx-rerun.so")
    return run_peak(cmd)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ---------------------------------------------------------------------------------------------- model


def build_model(path: Path, calib: int, seed: int):
    import keras

    from nn2fpga.datasets import calibrate_batchnorm

    keras.utils.set_random_seed(seed)
    model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classes=2)
    x = np.random.default_rng(seed).uniform(0.0, 1.0, (calib, 224, 224, 3)).astype(np.float32)
    calibrate_batchnorm(model, x)
    model.save(path)
    return model


# ---------------------------------------------------------------------------------------------- nn2fpga


def run_nn2fpga(model, model_path: Path, x: np.ndarray, args, work: Path) -> dict:
    import yaml

    import nn2fpga

    r: dict = {}
    cfg = work / "nn2fpga.yml"
    cfg.write_text(yaml.safe_dump({"Model": {"Precision": PRECISION}}))
    prj = work / "n2f"
    cli = [str(VENV_BIN / "nn2fpga"), "convert", str(model_path), "-o", str(prj), "-c", str(cfg), "--force"]
    print("(a) nn2fpga convert (CLI) ...", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cli, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    r["convert_s"] = time.perf_counter() - t0
    if proc.returncode != 0:
        r["failed"] = "convert: " + " ".join((proc.stderr or proc.stdout).split()[-30:])
        return r
    # what the CLI pays before converting anything: Python, Keras/TensorFlow imports and loading the .keras file
    startup = [
        str(VENV_BIN / "python"),
        "-c",
        f"import nn2fpga.project, keras; keras.saving.load_model({str(model_path)!r})",
    ]
    t0 = time.perf_counter()
    subprocess.run(startup, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    r["startup_s"] = time.perf_counter() - t0

    print("(b) size ...", flush=True)
    r["size"], r["files"] = tree_size(prj)
    r["breakdown"] = breakdown(prj)

    tclsh = shutil.which("tclsh")
    if tclsh and (prj / "firmware" / "weights.tcl").exists():  # WeightLiterals at_build: what the HLS build adds
        print("(b') synthesis literals (tclsh firmware/weights.tcl) ...", flush=True)
        t0 = time.perf_counter()
        done = subprocess.run([tclsh, "firmware/weights.tcl"], cwd=prj, capture_output=True, text=True)
        r["tcl_s"] = time.perf_counter() - t0
        r["tcl_rc"] = done.returncode
        r["literals_size"] = tree_size(prj / "firmware" / "weights")[0]

    print("(c) compile ...", flush=True)
    os.environ["NN2FPGA_CACHE"] = str(work / "n2f-cache")  # fresh: the compile really runs g++
    project = nn2fpga.load_project(prj)
    try:
        _, r["api_compile_s"] = timed(project.compile)
    except Exception as exc:  # noqa: BLE001
        r["failed"] = "compile: " + short_error(exc)
        return r
    gxx = measure_gxx(prj / "csim" / "build.log", work)
    r["compile_s"], r["compile_mb"] = gxx["seconds"], gxx["peak_mb"]
    if gxx["rc"] != 0:
        r["gxx_note"] = f"re-run of build.log's g++ exited {gxx['rc']}: {gxx['output']}"

    n, nref = args.images, max(args.ref_batch, args.images)
    print(f"(d) csim, {n} images, 1 thread ...", flush=True)
    y_csim, r["csim_total_s"] = timed(project.predict, x[:n], threads=1)
    r["csim_s"] = r["csim_total_s"] / n
    print(f"(e) reference, batch {nref} ...", flush=True)
    y_ref, r["ref_total_s"] = timed(project.predict, x[:nref], backend="reference")
    r["ref_rate"] = nref / r["ref_total_s"]
    r["ref_batch"] = nref
    r["bit_exact"] = bool(np.array_equal(y_csim, y_ref[:n]))
    r["max_csim_ref_diff"] = float(np.max(np.abs(y_csim - y_ref[:n])))
    print("    featurizer trace ...", flush=True)
    feats = project.trace(x[:n])[FEATURIZER]
    import keras

    featurizer = keras.Model(model.inputs, model.get_layer(FEATURIZER).output)
    kfeats = np.asarray(featurizer(x[:n], training=False))
    r["cosine"] = cosine(feats, kfeats)
    kout = np.asarray(model(x[:n], training=False))
    r["out_diff"] = float(np.max(np.abs(kout - y_csim)))
    r["argmax_agree"] = int(np.sum(np.argmax(kout, 1) == np.argmax(y_csim, 1)))
    return r


def run_keras(model, x: np.ndarray, batch: int, repeats: int) -> float:
    model.predict(x[:batch], batch_size=batch, verbose=0)  # warm-up (tracing)
    _, dt = best_of(repeats, model.predict, x[:batch], batch_size=batch, verbose=0)
    return batch / dt


# ---------------------------------------------------------------------------------------------- hls4ml


def hls4ml_child(work: Path) -> int:
    """Runs in a child process: convert, write, compile, csim; progress goes to work/hls4ml.json after every
    stage, so whatever finished survives a timeout or an abort of the C simulation."""
    import warnings

    state = {"stage": "start"}
    progress = work / "hls4ml.json"

    def mark(**kv):
        state.update(kv)
        tmp = progress.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, progress)

    mark(stage="import", since=time.time())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import hls4ml
        import keras

        model = keras.saving.load_model(work / "model.keras")
        mark(version=hls4ml.__version__, stage="convert", since=time.time())
        t0 = time.perf_counter()
        cfg = hls4ml.utils.config_from_keras_model(model, granularity="name")
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=cfg, io_type="io_stream", backend="Vivado", output_dir=str(work / "hls4ml")
        )
        mark(convert_s=time.perf_counter() - t0, stage="write", since=time.time())
        _, write_s = timed(hls_model.write)
        mark(write_s=write_s, stage="compile", since=time.time())
        # what hls_model._compile() does (write() already ran): build_lib.sh, then load the library; here under
        # /usr/bin/time for the peak memory
        out_dir = Path(hls_model.config.get_output_dir())
        build = run_peak(["bash", "./build_lib.sh"], cwd=out_dir)
        if build["rc"] != 0:
            raise RuntimeError(f"build_lib.sh exited {build['rc']}: {build['output']}")
        name, stamp = hls_model.config.get_project_name(), hls_model.config.get_config_value("Stamp")
        hls_model._top_function_lib = ctypes.cdll.LoadLibrary(str(out_dir / "firmware" / f"{name}-{stamp}.so"))
        mark(compile_s=build["seconds"], compile_mb=build["peak_mb"], stage="csim", since=time.time(), csim_times=[])
        x = np.load(work / "x.npy")
        times = []
        for i in range(len(x)):
            _, dt = timed(hls_model.predict, np.ascontiguousarray(x[i : i + 1]))
            times.append(dt)
            mark(csim_times=times)
        mark(stage="done", since=time.time())
    return 0


def run_hls4ml(model_path: Path, x: np.ndarray, args, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(model_path, work / "model.keras")
    np.save(work / "x.npy", x[: args.hls4ml_images].astype(np.float32))
    limits = {
        "import": 120.0,
        "convert": args.hls4ml_convert_timeout,
        "compile": args.hls4ml_compile_timeout,
        "csim": args.hls4ml_csim_timeout,
    }
    limits["write"] = limits["convert"]  # convert+write share one limit
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_hls4ml-child", str(work)]
    log = (work / "child.log").open("wb")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    progress, state, timed_out = work / "hls4ml.json", {}, ""
    convert_since = None
    while proc.poll() is None:
        time.sleep(1.0)
        try:
            state = json.loads(progress.read_text())
        except (OSError, ValueError):
            continue
        stage = state.get("stage")
        if stage == "convert" and convert_since is None:
            convert_since = state["since"]
        since = convert_since if stage in ("convert", "write") else state.get("since", time.time())
        if stage in limits and time.time() - since > limits[stage]:
            timed_out = f"{stage} (limit {limits[stage]:.0f} s)"
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
    log.close()
    try:
        state = json.loads(progress.read_text())
    except (OSError, ValueError):
        pass
    r = dict(state)
    r["rc"] = proc.returncode
    r["timed_out"] = timed_out
    tail = (work / "child.log").read_text(errors="replace").strip().splitlines()
    r["log_tail"] = " | ".join(line.strip() for line in tail[-4:])[-400:]
    if "convert_s" in r and "write_s" in r:
        r["convert_write_s"] = r["convert_s"] + r["write_s"]
    if (work / "hls4ml").exists():
        r["size"], r["files"] = tree_size(work / "hls4ml")
        r["breakdown"] = breakdown(work / "hls4ml")
    times = r.get("csim_times") or []
    if times:
        r["csim_s"] = sum(times) / len(times)
    if r.get("stage") != "done" and not timed_out:
        sig = -proc.returncode if proc.returncode and proc.returncode < 0 else None
        how = f"killed by {signal.Signals(sig).name}" if sig else f"exit code {proc.returncode}"
        r["failed"] = f"{r.get('stage')}: {how}"
    return r


# ---------------------------------------------------------------------------------------------- report


def mb(v) -> float:
    return float("nan") if v is None else v / MB


def verdict(ok) -> str:
    return "—" if ok is None else ("**met**" if ok else "**not met**")


def report(n2f: dict, hls: dict | None, keras_rate: float, args) -> tuple[list[str], list[str], list[str]]:
    nan = float("nan")
    h = hls or {}
    g = lambda d, k: d.get(k, nan)  # noqa: E731
    hls_ran = hls is not None

    # hls4ml numbers for the ratios: this run's where it produced them, else the issue's (labelled)
    def ref_val(key, this):
        return (this, "this run") if this == this else (ISSUE[key], "from the issue")

    h_conv, h_conv_src = ref_val("convert_s", g(h, "convert_write_s"))
    h_size_full = mb(h.get("size")) if "write_s" in h else nan  # a write cut short is no project size
    h_size, h_size_src = ref_val("size_mb", h_size_full)
    h_comp, h_comp_src = ref_val("compile_s", g(h, "compile_s"))
    h_csim, h_csim_src = ref_val("csim_s", g(h, "csim_s"))

    cos_min = float(np.min(n2f["cosine"])) if "cosine" in n2f else nan
    size_mb = mb(n2f.get("size"))
    met = {
        "convert": g(n2f, "convert_s") <= TARGETS["convert_s"] if "convert_s" in n2f else None,
        "size": size_mb <= TARGETS["size_share"] * ISSUE["size_mb"] if size_mb == size_mb else None,
        "compile": g(n2f, "compile_s") <= TARGETS["compile_s"] if "compile_s" in n2f else None,
        "memory": g(n2f, "compile_mb") <= TARGETS["compile_mb"] if "compile_mb" in n2f else None,
        "csim": (g(n2f, "csim_s") <= TARGETS["csim_s"] and h_csim / g(n2f, "csim_s") >= TARGETS["csim_speedup"])
        if "csim_s" in n2f
        else None,
        "ref": g(n2f, "ref_rate") >= TARGETS["ref_rate"] if "ref_rate" in n2f else None,
        "cosine": cos_min >= TARGETS["cosine"] if cos_min == cos_min else None,
        "exact": n2f.get("bit_exact"),
    }

    def hcol(v):
        return v if hls_ran else "skipped"

    h_status = ""
    if hls_ran:
        if h.get("timed_out"):
            h_status = f"timed out in {h['timed_out']}"
        elif h.get("failed"):
            h_status = f"failed in {h['failed']}"
    h_size_cell = fmt(h_size_full, ",.0f")
    if h_size_full != h_size_full and "size" in h:
        h_size_cell = f"{mb(h['size']):,.0f} (partial write)"
    csim_cell = fmt(g(h, "csim_s"), ",.1f")
    if hls_ran and csim_cell == "—":
        csim_cell = "did not run" + (f" ({h_status})" if h_status else "")
    rows = [
        "| Metric | nn2fpga | hls4ml (this run) | hls4ml (from the issue) | Target (nn2fpga) | Met |",
        "|---|---:|---:|---:|---|---|",
        f"| Convert + write (s) | {fmt(g(n2f, 'convert_s'), '.1f')} (CLI wall clock) | "
        f"{hcol(fmt(g(h, 'convert_write_s'), '.1f'))} (in-process) | {ISSUE['convert_s']:.0f} | "
        f"≤ {TARGETS['convert_s']:.0f} | {verdict(met['convert'])} |",
        f"| Project size (MB) | {fmt(size_mb, ',.0f')} | {hcol(h_size_cell)} | "
        f"{ISSUE['size_mb']:.0f} | ≤ {TARGETS['size_share'] * ISSUE['size_mb']:.0f} (1/3 of 744) | "
        f"{verdict(met['size'])} |",
        f"| Files in the project | {n2f.get('files', '—')} | {hcol(h.get('files', '—'))} | — | — | — |",
        f"| C simulation g++ compile (s) | {fmt(g(n2f, 'compile_s'), '.1f')} | "
        f"{hcol(fmt(g(h, 'compile_s'), '.1f'))} | {ISSUE['compile_s']:.0f} | ≤ {TARGETS['compile_s']:.0f} | "
        f"{verdict(met['compile'])} |",
        f"| g++ peak memory (MiB) | {fmt(g(n2f, 'compile_mb'), ',.0f')} | {hcol(fmt(g(h, 'compile_mb'), ',.0f'))} | "
        f"— | ≤ {TARGETS['compile_mb']:.0f} | {verdict(met['memory'])} |",
        f"| csim per image, 1 thread (s) | {fmt(g(n2f, 'csim_s'), '.2f')} | {hcol(csim_cell)} | "
        f"{ISSUE['csim_s']:.0f} | ≤ {TARGETS['csim_s']:.0f} and ≥ {TARGETS['csim_speedup']:.0f}× hls4ml | "
        f"{verdict(met['csim'])} |",
        f"| csim == reference, bit for bit ({args.images} images) | "
        f"{'yes' if n2f.get('bit_exact') else ('no' if 'bit_exact' in n2f else '—')} | — | — | yes | "
        f"{verdict(met['exact'])} |",
        f"| Featurizer (`{FEATURIZER}`) cosine with Keras, min over {args.images} images | {fmt(cos_min, '.6f')} | "
        f"— | — | ≥ {TARGETS['cosine']} | {verdict(met['cosine'])} |",
        f"| Reference (NumPy) images/s, batch {n2f.get('ref_batch', args.ref_batch)} | "
        f"{fmt(g(n2f, 'ref_rate'), '.3f')} | — | — | ≥ {TARGETS['ref_rate']:.0f} | {verdict(met['ref'])} |",
        f"| Keras float images/s, batch {args.keras_batch} | {fmt(keras_rate, '.2f')} | — | — | — | — |",
    ]
    ratios = [
        f"- hls4ml / nn2fpga convert+write time: **{ratio(h_conv, g(n2f, 'convert_s'))}** (hls4ml {h_conv_src})",
        f"- hls4ml / nn2fpga project size: **{ratio(h_size, size_mb)}** (hls4ml {h_size_src})",
        f"- hls4ml / nn2fpga g++ compile time: **{ratio(h_comp, g(n2f, 'compile_s'))}** (hls4ml {h_comp_src})",
        f"- hls4ml / nn2fpga csim time per image: **{ratio(h_csim, g(n2f, 'csim_s'))}** (hls4ml {h_csim_src})",
        f"- Keras float / nn2fpga reference images/s: {ratio(keras_rate, g(n2f, 'ref_rate'))}; "
        f"Keras float / nn2fpga csim (1 thread): {ratio(keras_rate, 1 / g(n2f, 'csim_s'))}",
    ]
    notes = []
    if n2f.get("failed"):
        notes.append(f"- nn2fpga failed: {n2f['failed']}")
    if "startup_s" in n2f:
        notes.append(
            "- The CLI time is the whole `nn2fpga convert` process. It reads the .keras file without Keras or "
            "TensorFlow (`nn2fpga.frontend.keras_file`); for comparison, importing Keras/TensorFlow and loading the "
            f"file with Keras alone takes {n2f['startup_s']:.1f} s (`python -c 'import nn2fpga.project, keras; "
            "keras.saving.load_model(...)'`). hls4ml's times are in-process (after its imports and the model load)."
        )
    if "breakdown" in n2f:
        notes.append(f"- nn2fpga project, largest parts: {n2f['breakdown']}.")
    if "tcl_s" in n2f:
        notes.append(
            "- The project is written with `WeightLiterals: auto`, which is `at_build` for this model: the constants "
            "are stored once, as `weights/*.npy`, and `build_prj.tcl` writes the synthesis literals "
            f"(`firmware/weights/*.h`) when Vitis HLS first runs. Measured here with `tclsh firmware/weights.tcl`: "
            f"{n2f['tcl_s']:.1f} s, {mb(n2f['literals_size']):.0f} MB (exit code {n2f['tcl_rc']}). "
            "With `WeightLiterals: inline` convert writes those files itself."
        )
    if "api_compile_s" in n2f:
        notes.append(
            f"- g++ compile: `project.compile()` with a fresh `NN2FPGA_CACHE` took {n2f['api_compile_s']:.1f} s "
            "(build and load the library and the weights); the table's time and peak memory are the exact command "
            "of `csim/build.log` re-run alone under `/usr/bin/time` (peak RSS of its largest process, cc1plus); "
            "hls4ml's are its `build_lib.sh` under `/usr/bin/time`, as `hls_model._compile()` runs it."
            + (f" {n2f['gxx_note']}" if n2f.get("gxx_note") else "")
        )
    if "cosine" in n2f:
        notes.append(
            f"- Featurizer cosine per image: {', '.join(f'{c:.6f}' for c in n2f['cosine'])}; final softmax max |csim − "
            f"Keras| {n2f['out_diff']:.2e}, argmax agrees on {n2f['argmax_agree']}/{args.images}; csim vs "
            f"reference max |diff| {n2f['max_csim_ref_diff']:.1e}."
        )
    if hls is None:
        notes.append("- hls4ml skipped (--skip-hls4ml); ratios use the issue's published hls4ml numbers.")
    else:
        desc = (
            f"- hls4ml {h.get('version', '?')} (Vivado backend, io_stream, `config_from_keras_model(model, "
            "granularity='name')`, default precision) ran in a child process with limits convert+write "
            f"{args.hls4ml_convert_timeout:.0f} s, compile {args.hls4ml_compile_timeout:.0f} s, csim "
            f"{args.hls4ml_csim_timeout:.0f} s on {args.hls4ml_images} image(s)."
        )
        if "convert_s" in h:
            desc += f" Convert {h['convert_s']:.1f} s"
            desc += f", write {h['write_s']:.1f} s." if "write_s" in h else "."
        if h.get("breakdown"):
            desc += f" Project, largest parts: {h['breakdown']}" + ("" if "write_s" in h else " (partial write)") + "."
        notes.append(desc)
        if h_status:
            notes.append(f"- hls4ml {h_status}; last output: `{h.get('log_tail', '')}`")
        if h.get("stage") == "done":
            notes.append(f"- hls4ml's C simulation ran: {', '.join(f'{t:.1f} s' for t in h['csim_times'])} per image.")
        elif h.get("stage") == "csim" and not h.get("csim_times"):
            notes.append(
                "- hls4ml's C simulation did not produce an output (the issue: its streaming pooling needs "
                "pool size == stride, which ResNet-50's 3x3/2 max pooling is not); csim ratios use the issue's 94 s."
            )
    notes.append(
        '- Ratios marked "from the issue" divide the issue\'s published hls4ml numbers (another machine) by this '
        "run's nn2fpga numbers."
    )
    return rows, ratios, notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=2, help="images for csim, bit-exactness and cosine (default 2)")
    ap.add_argument("--ref-batch", type=int, default=4, help="reference-backend batch (default 4)")
    ap.add_argument("--keras-batch", type=int, default=4, help="Keras float batch (default 4)")
    ap.add_argument("--calib", type=int, default=4, help="random images for BatchNorm calibration (default 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-hls4ml", action="store_true", help="skip hls4ml (ratios use the issue's numbers)")
    ap.add_argument("--hls4ml-images", type=int, default=1, help="images for hls4ml csim (default 1)")
    ap.add_argument("--hls4ml-convert-timeout", type=float, default=240.0, help="s for convert+write (240)")
    ap.add_argument("--hls4ml-compile-timeout", type=float, default=300.0, help="s for g++ (300)")
    ap.add_argument("--hls4ml-csim-timeout", type=float, default=300.0, help="s for its csim (300)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the projects (default: a temp dir)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    ap.add_argument("--_hls4ml-child", dest="child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.child:
        return hls4ml_child(Path(args.child))

    load_before = os.getloadavg()[0]
    tmp = None
    if args.keep:
        work = Path(args.keep).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-resnet50-")
        work = Path(tmp.name)
    try:
        print(f"building ResNet-50, calibrating BatchNorm on {args.calib} random images ...", flush=True)
        model_path = work / "resnet50.keras"
        model, build_s = timed(build_model, model_path, args.calib, args.seed)
        n = max(args.images, args.ref_batch, args.keras_batch, args.hls4ml_images)
        x = np.random.default_rng(args.seed + 1).uniform(0.0, 1.0, (n, 224, 224, 3)).astype(np.float32)

        n2f = run_nn2fpga(model, model_path, x, args, work)
        print("(f) keras ...", flush=True)
        keras_rate = run_keras(model, x, args.keras_batch, repeats=3)
        hls = None
        if not args.skip_hls4ml:
            print("hls4ml (child process) ...", flush=True)
            hls = run_hls4ml(model_path, x, args, work / "hls4ml-work")
    finally:
        if tmp is not None:
            tmp.cleanup()

    rows, ratios, notes = report(n2f, hls, keras_rate, args)
    machine, date, cmd = machine_info(load_before), now(), command_line("bench/resnet50.py", argv)
    print()
    print("\n".join(rows))
    print()
    print("\n".join(ratios))
    print("\n".join(notes))
    print(f"\nmachine: {machine}\ndate: {date}\nmodel build + calibration took {build_s:.1f} s")

    if not args.no_write:
        p = PRECISION
        doc = [
            "## ResNet-50: nn2fpga vs hls4ml (bench/resnet50.py)",
            "",
            "`keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classes=2)`, BatchNorm "
            f"statistics set by `calibrate_batchnorm` on {args.calib} random images (uniform [0, 1)), saved as "
            f".keras; precision result `{p['result']}`, weight `{p['weight']}`, bias `{p['bias']}`, io_stream. "
            f"nn2fpga: `nn2fpga convert MODEL.keras -o DIR -c CONFIG.yml --force` (wall clock, subprocess), "
            f"`du -sb` of DIR, g++ compile, `project.predict(x, threads=1)` on {args.images} images, "
            f'`project.predict(x, backend="reference")` on a batch of {max(args.ref_batch, args.images)}, '
            f"`project.trace(x)['{FEATURIZER}']` vs the Keras featurizer, Keras `model.predict` (best of 3).",
            "",
            *rows,
            "",
            *ratios,
            "",
            *notes,
        ]
        publish(doc, machine, date, cmd, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
