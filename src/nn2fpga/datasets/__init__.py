"""Data sets for examples, tests and benchmarks (nothing is downloaded).

`hls4ml_jets`: real jets, 6,000 each of gluon, quark, W, Z and top at about 1 TeV with the 16 high-level
features of the hls4ml data set, made by `nn2fpga.datasets.jets` (HLS4ML_JETS_COMMAND) and shipped with the
package, for the demo and the benchmarks. `jets.generate` makes more (docs/physics.md).

`jet_features`: for tests that need something instantaneous, a stand-in for the LHC jet-tagging data set (16
features, 5 classes: g, q, W, Z, t): each class is a Gaussian with its own mean and a shared random covariance, so a
small MLP separates them well but not trivially. Standardized, like the real features after scaling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_FEATURES = 16
CLASSES = ("g", "q", "w", "z", "t")
HLS4ML_PROCESSES = ("gluon", "quark", "w", "z", "top")  # the hls4ml data set's class order
HLS4ML_JETS = Path(__file__).parent / "data" / "jets_5class.npz"
HLS4ML_JETS_COMMAND = (f"nn2fpga jets -p {' -p '.join(HLS4ML_PROCESSES)} -n 6000 --seed 1 --features --no-images "
                       "--no-constituents --pt-min 950 --pt-max 1050 -o jets_5class.npz")  # fmt: skip


def hls4ml_jets() -> dict[str, np.ndarray]:
    """The shipped 5-class jets (module docstring): `features` (30000, 16), `labels`, `label_names`, `pt`,
    `eta`, `phi`, `mass`, `sd_mass`, `n_constituents`, `dropped`, `seed`."""
    with np.load(HLS4ML_JETS) as z:
        return {k: z[k] for k in z.files}


def split_standardized(x: np.ndarray, train_fraction: float = 0.7, seed: int = 0):
    """(train indices, test indices, x standardized by the training part's mean and deviation)."""
    order = np.random.default_rng(seed).permutation(len(x))
    train, test = order[: int(train_fraction * len(x))], order[int(train_fraction * len(x)) :]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    return train, test, ((x - mean) / np.where(std > 0, std, 1)).astype(np.float32)


def jet_features(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x float32 (n, 16) standardized, y int64 (n,) class labels)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234).normal(scale=1.2, size=(len(CLASSES), N_FEATURES))
    mix = np.random.default_rng(99).normal(size=(N_FEATURES, N_FEATURES)) / np.sqrt(N_FEATURES)
    y = rng.integers(0, len(CLASSES), n)
    x = centres[y] + rng.normal(size=(n, N_FEATURES)) @ mix
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype(np.float32), y


def jet_tagger(seed: int = 0, epochs: int = 8, n_train: int = 20000, data: tuple | None = None):
    """The classic jet-tagging MLP (16 -> 64 -> 32 -> 32 -> 5 softmax, ReLU), trained on `data` = (x, y) (such
    as standardized `hls4ml_jets` features), else on `n_train` samples of `jet_features`."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((N_FEATURES,), name="features"),
            keras.layers.Dense(64, activation="relu", name="fc1"),
            keras.layers.Dense(32, activation="relu", name="fc2"),
            keras.layers.Dense(32, activation="relu", name="fc3"),
            keras.layers.Dense(len(CLASSES), activation="softmax", name="output"),
        ],
        name="jet_tagger",
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data if data is not None else jet_features(n_train, seed=seed)
    model.fit(x, y, epochs=epochs, batch_size=256, verbose=0)
    return model


def calibrate_batchnorm(model, x: np.ndarray, batch_size: int = 32):
    """Set every BatchNormalization's moving statistics from data, in order, so that a randomly
    initialized network has standardized activations (as a trained one has) and fixed-point
    comparisons are meaningful. gamma = 1 and beta = 0 are kept; works on Keras 3 and tf_keras models.
    Returns the model.
    """
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    keras = __import__(type(model).__module__.split(".")[0])  # the model's own Keras (keras or tf_keras)
    for bn in bns:
        probe = keras.Model(model.inputs, bn.input)
        # an eager call: no tf.function tracing per probe model (53 of them in ResNet-50)
        batches = [probe(x[i : i + batch_size], training=False) for i in range(0, len(x), batch_size)]
        values = np.concatenate([np.asarray(b, dtype=np.float64) for b in batches])
        axes = tuple(range(values.ndim - 1))
        weights = []
        if bn.scale:
            weights.append(np.ones(values.shape[-1]))
        if bn.center:
            weights.append(np.zeros(values.shape[-1]))
        weights += [values.mean(axis=axes), values.var(axis=axes)]
        bn.set_weights(weights)
    return model
