"""What benchmarks/adapt_quality.py needs beside its measurements: the three bases (built in the run), the data of
the domains they are carried to, and the baselines fitted on the same examples.

- MiniLM, compiled fp32 from its recipe (or an artifact folder reused); the text domain is models/docstrings.
- A digits CNN trained here on digits 0-4 only (the recipe's architecture, ~900 images, seconds), exported with two
  outputs: its logits and ``features``, the 64-wide penultimate layer head mode reads. Classes 5-9 are new to it.
- The sunspots LSTM from its recipe, compiled fp32; carried to El Nino sea temperatures (statsmodels), rescaled
  into the sunspot range (see ``elnino``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MINILM = "minilm-l6"  # the recipe text finetune trains (sdk.adaptation.finetune_text)
BASE_DIGITS = (0, 1, 2, 3, 4)
NEW_DIGITS = (5, 6, 7, 8, 9)


# --- bases --------------------------------------------------------------------------------------------------------


def build_minilm(out: Path) -> Path:
    """Compile MiniLM fp32 from its recipe (the pretrained weights come from their package)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sdk.compile import compile_source, from_recipe, load_recipe

    recipe = load_recipe(MINILM, root=ROOT)
    compile_source(from_recipe(recipe, recipe.train(), seed=0), out, precisions="fp32")
    return out


def general_sentences() -> list[str]:
    """Real general-domain sentences (MiniLM's recipe's evaluation set): where forgetting is measured."""
    from models.minilm_l6.recipe import CALIBRATION_COUNT, sentences

    return sentences()[CALIBRATION_COUNT:]


def digits(classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits of these classes, [N, 1, 8, 8] in [0, 1], labels int64."""
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = np.isin(data.target, classes)
    return (data.images[keep] / 16.0).astype(np.float32)[:, None], data.target[keep].astype(np.int64)


class _WithFeatures:
    """Factory for a module returning (logits, features): torch is imported only when a base is built."""

    @staticmethod
    def wrap(cnn: Any) -> Any:
        from torch import nn

        class WithFeatures(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.cnn = cnn

            def forward(self, image: Any) -> Any:
                hidden = self.cnn.head[:3](self.cnn.features(image))  # Flatten, Linear(512, 64), ReLU
                return self.cnn.head[4](hidden), hidden

        return WithFeatures()


def train_cnn(x: np.ndarray, y: np.ndarray, *, steps: int, seed: int, batch: int = 64) -> Any:
    """The recipe's DigitsCNN (Adam 3e-3, weight decay 1e-4, as the recipe trains it), ``steps`` minibatch steps."""
    import torch
    from torch import nn

    from models.digits_cnn.model import DigitsCNN

    torch.manual_seed(seed)
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randperm(len(xs), generator=generator)[:batch]
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(xs[idx])[0], ys[idx])
        loss.backward()
        optimizer.step()
    model.eval()
    return model


def cnn_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        logits = model(torch.from_numpy(x))[0].numpy()
    return float((logits.argmax(-1) == y).mean())


def build_digits_base(out: Path, *, steps: int, seed: int = 0) -> tuple[Path, float]:
    """Train the CNN on digits 0-4 and write it as an artifact with ``logits`` and ``features`` outputs; returns
    (folder, its accuracy on held-out 0-4 digits)."""
    from sdk.artifacts.integrity import sha256_bytes
    from sdk.artifacts.manifest import ArtifactFile, Manifest, Source, TensorSpec, write_manifest
    from sdk.compile.torch_export import export_torch

    x, y = digits(BASE_DIGITS)
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[: len(x) // 5], order[len(x) // 5 :]
    cnn = train_cnn(x[train], y[train], steps=steps, seed=seed)
    accuracy = cnn_accuracy(cnn, x[test], y[test])
    data = export_torch(
        _WithFeatures.wrap(cnn),
        {"image": x[:1]},
        output_names=("logits", "features"),
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
    )
    assert isinstance(data, bytes)  # a 40k-parameter CNN: one file, never sharded
    out.mkdir(parents=True)
    (out / "model.onnx").write_bytes(data)
    write_manifest(
        out,
        Manifest(
            name="digits-cnn-0to4",
            version="1",
            description="The digits CNN trained on digits 0-4 only (benchmarks/adapt_quality.py's base).",
            source=Source(framework="pytorch"),
            inputs=(
                TensorSpec(name="image", dtype="float32", shape=(-1, 1, 8, 8), dim_names=("batch",) + (None,) * 3),
            ),
            outputs=(
                TensorSpec(name="logits", dtype="float32", shape=(-1, 5), dim_names=("batch", None)),
                TensorSpec(name="features", dtype="float32", shape=(-1, 64), dim_names=("batch", None)),
            ),
            artifacts=(
                ArtifactFile(
                    kind="onnx", file="model.onnx", sha256=sha256_bytes(data), bytes=len(data), precision="fp32"
                ),
            ),
        ),
    )
    return out, accuracy


def build_sunspots_base(out: Path, *, epochs: int, seed: int = 0) -> tuple[Path, float]:
    """Train the sunspots LSTM (its recipe) and compile it fp32; returns (folder, its held-out RMSE)."""
    from sdk.compile import compile_source, from_recipe, load_recipe

    recipe = load_recipe("sunspots-lstm", root=ROOT)
    trained = recipe.train(seed=seed, epochs=epochs, progress=False)
    compile_source(from_recipe(recipe, trained, seed=seed), out, precisions="fp32")
    return out, float(trained.metrics["test_rmse"])


# --- series ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesTask:
    """A real series, rescaled into the base's range, cut into windows; the first ``train_points`` points train."""

    name: str
    values: np.ndarray  # rescaled
    scale: float  # original units per rescaled unit (RMSEs are reported in the original units)
    train_points: int
    window: int

    def windows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows whose target index t is in [start, stop): x [N, window, 1], y [N]."""
        ts = range(max(start, self.window), stop)
        x = np.stack([self.values[t - self.window : t] for t in ts])[:, :, None].astype(np.float32)
        return x, self.values[list(ts)].astype(np.float64)

    def train(self) -> tuple[np.ndarray, np.ndarray]:
        return self.windows(0, self.train_points)

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        return self.windows(self.train_points, len(self.values))


def elnino(share: float, window: int = 20) -> SeriesTask:
    """statsmodels' El Nino sea surface temperatures (monthly, 1950-2010), in the order measured. The first ``share``
    of the points train; their [min, max] maps to [10, 150] (the sunspot range the base saw; its graph takes a
    square root, so the series must stay positive): the same affine map for every method, RMSE in degrees C."""
    from statsmodels.datasets import elnino as source

    frame = source.load_pandas().data
    values = frame.drop(columns=["YEAR"]).to_numpy(dtype=np.float64).reshape(-1)
    train_points = round(share * len(values))
    low, high = values[:train_points].min(), values[:train_points].max()
    scale = (high - low) / 140.0
    return SeriesTask("El Nino SST", (values - low) / scale + 10.0, scale, train_points, window)


def scratch_lstm(task: SeriesTask, *, epochs: int, seed: int) -> np.ndarray:
    """The sunspots recipe's LSTM, trained the recipe's way on the task's training windows only; test forecasts."""
    import torch

    from models.sunspots_lstm.model import SunspotLSTM
    from models.torch_training import fit, predict

    x, y = task.train()
    torch.manual_seed(seed)
    model = SunspotLSTM()
    model.init_linear_path(x, y[:, None])
    fit(
        model,
        x,
        y[:, None].astype(np.float32),
        loss_fn=lambda p, t: ((p - t) / 100.0).pow(2).mean(),
        epochs=epochs,
        lr=5e-3,
        weight_decay=1e-3,
        batch_size=32,
        seed=seed,
        desc="scratch lstm",
        progress=False,
    )
    return np.asarray(predict(model, task.test()[0]), dtype=np.float64).reshape(-1)


def ar_forecasts(task: SeriesTask) -> tuple[np.ndarray, int]:
    """statsmodels' AutoReg fitted on the training points (lags by AIC, at most 24), each test point forecast one
    step ahead from the true past values, as the sunspots recipe's AR baseline does; (forecasts, lags)."""
    from statsmodels.tsa.ar_model import AutoReg, ar_select_order

    train = task.values[: task.train_points]
    lags = ar_select_order(train, maxlag=24, ic="aic").ar_lags
    order = max(lags) if lags else 1
    fitted = AutoReg(train, lags=order).fit()
    const, coefs = fitted.params[0], fitted.params[1:]
    v = task.values
    forecasts = [const + float(np.dot(coefs, v[t - order : t][::-1])) for t in range(task.train_points, len(v))]
    return np.asarray(forecasts), order


# --- text and pixel baselines ---------------------------------------------------------------------------------------


def tfidf_accuracy(
    train_texts: list[str], train_labels: list[str], test_texts: list[str], test_labels: list[str]
) -> float:
    """TF-IDF (words and word pairs, sublinear tf) + logistic regression, C chosen by 4-fold CV on the examples."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=5000))
    search = GridSearchCV(pipeline, {"logisticregression__C": [0.1, 1.0, 10.0, 100.0]}, cv=4)
    search.fit(train_texts, train_labels)
    return float((search.predict(test_texts) == np.asarray(test_labels)).mean())


def pixel_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Logistic regression on the raw pixels, C chosen by CV on the examples."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        LogisticRegression(max_iter=5000),
        {"C": [0.01, 0.1, 1.0, 10.0]},
        cv=min(5, int(np.unique(y_train, return_counts=True)[1].min())),
    )
    search.fit(x_train.reshape(len(x_train), -1), y_train)
    return float((search.predict(x_test.reshape(len(x_test), -1)) == y_test).mean())


def per_class_draw(labels: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: ``per_class`` of each label drawn with ``seed``, the rest held out."""
    rng = np.random.default_rng(seed)
    train = np.concatenate(
        [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in np.unique(labels)]
    )
    mask = np.zeros(len(labels), dtype=bool)
    mask[train] = True
    return np.sort(train), np.flatnonzero(~mask)
