"""Generated data sets for examples, tests and benchmarks (nothing is downloaded).

`jet_features`: a stand-in for the LHC jet-tagging data set (16 high-level jet features, 5 classes:
g, q, W, Z, t): each class is a Gaussian with its own mean and a shared random covariance, so a
small MLP separates them well but not trivially. Standardized, like the real features after scaling.
"""

from __future__ import annotations

import numpy as np

N_FEATURES = 16
CLASSES = ("g", "q", "w", "z", "t")


def jet_features(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x float32 (n, 16) standardized, y int64 (n,) class labels)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234).normal(scale=1.2, size=(len(CLASSES), N_FEATURES))
    mix = np.random.default_rng(99).normal(size=(N_FEATURES, N_FEATURES)) / np.sqrt(N_FEATURES)
    y = rng.integers(0, len(CLASSES), n)
    x = centres[y] + rng.normal(size=(n, N_FEATURES)) @ mix
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype(np.float32), y


def jet_tagger(seed: int = 0, epochs: int = 8, n_train: int = 20000):
    """The classic jet-tagging MLP (16 -> 64 -> 32 -> 32 -> 5 softmax, ReLU), trained on `jet_features`."""
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
    x, y = jet_features(n_train, seed=seed)
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
