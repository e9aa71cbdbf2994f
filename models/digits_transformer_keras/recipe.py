"""Recipe: the digits Transformer encoder in Keras 3 (twin of models/digits_transformer). Target: >= 97%."""

from __future__ import annotations

from typing import Any

from models.digits_cnn import images
from models.digits_cnn.data import LABELS, load_split
from models.digits_transformer.recipe import accuracy, rows, shifted
from models.keras_training import fit, keras_module, load_model, predict, save_model
from sdk.artifacts import TensorSpec
from sdk.compile import Evaluation, QualityGate, Recipe, Trained

NAME = "digits-transformer-keras"
keras = keras_module()
# ReLU in the feed-forward: Keras' exact GELU lowers to Erfc, which tf2onnx cannot convert.
DIM, HEADS, HIDDEN, LAYERS = 64, 4, 128, 2


@keras.saving.register_keras_serializable(package="aiaas")
class Position(keras.layers.Layer):
    """Adds a learned embedding per row position."""

    def build(self, input_shape: Any) -> None:
        self.table = self.add_weight(
            shape=(1, input_shape[1], input_shape[2]), initializer=keras.initializers.RandomNormal(stddev=0.02)
        )

    def call(self, x: Any) -> Any:
        return x + self.table


def build(seed: int) -> tuple[Any, Any]:
    keras_module(seed)
    layers = keras.layers
    inp = keras.Input((8, 8), name="rows")
    x = Position()(layers.Dense(DIM)(inp))
    for _ in range(LAYERS):
        h = layers.LayerNormalization(epsilon=1e-5)(x)
        h = layers.MultiHeadAttention(HEADS, DIM // HEADS, dropout=0.0)(h, h)
        x = layers.Add()([x, layers.Dropout(0.1)(h)])
        h = layers.LayerNormalization(epsilon=1e-5)(x)
        h = layers.Dense(DIM)(layers.Dense(HIDDEN, activation="relu")(h))
        x = layers.Add()([x, layers.Dropout(0.1)(h)])
    pooled = layers.GlobalAveragePooling1D()(layers.LayerNormalization(epsilon=1e-5)(x))
    logits = layers.Dense(10, name="logits")(pooled)
    probabilities = layers.Softmax(name="probabilities")(logits)
    return keras.Model(inp, [logits, probabilities], name="digits_transformer"), keras.Model(inp, logits)


def train(*, seed: int = 0, epochs: int | None = 20, progress: bool = True) -> Trained:
    split = load_split(seed)
    model, trainable = build(seed)
    x_train, y_train = shifted(split.x_train, split.y_train)
    fit(
        trainable,
        rows(x_train),
        y_train,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        epochs=20 if epochs is None else epochs,
        lr=2e-3,
        batch_size=64,
        progress=progress,
    )
    test_accuracy = accuracy(predict(model, rows(split.x_test)), split.y_test)
    return Trained(model, {"test_accuracy": round(test_accuracy, 4), "test_samples": float(len(split.y_test))})


def evaluation(seed: int) -> Evaluation:
    split = load_split(seed)
    return Evaluation({"rows": rows(split.x_test)}, lambda out: {"accuracy": accuracy(out["logits"], split.y_test)})


RECIPE = Recipe(
    name=NAME,
    framework="keras",
    task="classification",
    description="Handwritten digit classifier: a 2-layer Keras Transformer encoder reading the 8 rows of each digit.",
    inputs=(TensorSpec(name="rows", dtype="float32", shape=(-1, 8, 8), dim_names=("batch", None, None)),),
    outputs=(
        TensorSpec(name="logits", dtype="float32", shape=(-1, 10), dim_names=("batch", None)),
        TensorSpec(name="probabilities", dtype="float32", shape=(-1, 10), dim_names=("batch", None)),
    ),
    train=train,
    save=save_model,
    load=load_model,
    evaluation=evaluation,
    quality=QualityGate(metric="accuracy", max_drop=0.005),
    default_epochs=20,
    labels=LABELS,
    classify_output="logits",
    processors=images.processors("rows", "NHW"),
    raw_evaluation=lambda seed: images.raw_evaluation(seed, "rows", "NHW"),
)
