"""The heads head mode fits on a base's features, with numpy only (no scikit-learn, no torch: the ``edge`` extra has
neither): multinomial logistic regression for classes, ridge regression for numbers. Each standardizes its features
(the mean and scale go into the head graph) and picks its L2 strength by stratified k-fold cross-validation on the
examples (held-out log loss for classes, held-out squared error for numbers), then refits on all of them.

Logistic regression is minimized with L-BFGS (two-loop recursion, Armijo backtracking): the loss is smooth and, with
the L2 term, strongly convex, so a few hundred iterations reach the optimum for hundreds of features and tens of
classes in milliseconds, where Newton's method would factor a (features x classes)^2 Hessian.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import field

import numpy as np

from sdk._record import record

CLASS_L2 = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # on the mean cross-entropy; weights of standardized features
RIDGE_L2 = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # on the mean squared error of a standardized target
MAX_ITER = 300


@record
class Head:
    """A fitted linear head: ``((x - mean) * scale) @ weights + bias``, softmaxed for classes."""

    kind: str  # "classes" | "regression"
    mean: np.ndarray  # [d] float32
    scale: np.ndarray  # [d] float32 (1 / std; 0 for a constant feature)
    weights: np.ndarray  # [d, k] float32
    bias: np.ndarray  # [k] float32
    labels: tuple[str, ...] = ()
    l2: float = 0.0
    cv: dict[str, float] = field(default_factory=dict)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """The head in float64 on its float32 parameters: the reference the parity gate holds the graph to."""
        z = (features.astype(np.float64) - self.mean.astype(np.float64)) * self.scale.astype(np.float64)
        scores = z @ self.weights.astype(np.float64) + self.bias.astype(np.float64)
        return softmax(scores) if self.kind == "classes" else scores


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def standardizer(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, 1/std) per feature; a constant feature gets scale 0 (it carries nothing to learn from)."""
    values = features.astype(np.float64)
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    constant = std <= 1e-9 * np.maximum(1.0, np.abs(mean))
    return mean, np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, std))


def stratified_folds(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold of each example: each group (class) shuffled and dealt round-robin, continuing where the previous
    group stopped, so folds differ in size by at most one and each holds every class it can."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(groups), dtype=np.int64)
    start = 0
    for group in np.unique(groups):
        members = rng.permutation(np.flatnonzero(groups == group))
        assignment[members] = (start + np.arange(len(members))) % folds
        start = (start + len(members)) % folds
    return assignment


# --- classes -----------------------------------------------------------------------------------------------------


def _logistic_loss(z: np.ndarray, onehot: np.ndarray, l2: float) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    n, d = z.shape
    k = onehot.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * k].reshape(d, k), theta[d * k :]
        scores = z @ w + b
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_p = shifted - log_norm
        value = -float((onehot * log_p).sum()) / n + 0.5 * l2 * float((w * w).sum())
        residual = (np.exp(log_p) - onehot) / n
        grad_w = z.T @ residual + l2 * w
        return value, np.concatenate([grad_w.ravel(), residual.sum(axis=0)])

    return loss


def lbfgs(
    loss: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    *,
    max_iter: int = MAX_ITER,
    memory: int = 10,
) -> np.ndarray:
    """Minimize a smooth ``loss`` (value, gradient) from ``x0``."""
    x = x0.copy()
    value, grad = loss(x)
    history: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(max_iter):
        if float(np.abs(grad).max(initial=0.0)) < 1e-7:
            break
        q = grad.copy()
        alphas = []
        for s, y, rho in reversed(history):
            a = rho * float(s @ q)
            q -= a * y
            alphas.append(a)
        if history:
            s, y, _ = history[-1]
            q *= float(s @ y) / float(y @ y)
        else:
            q /= max(1.0, float(np.linalg.norm(grad)))
        for (s, y, rho), a in zip(history, reversed(alphas)):
            q += s * (a - rho * float(y @ q))
        direction = -q
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction: restart from the gradient
            history.clear()
            direction, slope = -grad, -float(grad @ grad)
        step = 1.0
        while True:
            candidate = x + step * direction
            new_value, new_grad = loss(candidate)
            if new_value <= value + 1e-4 * step * slope:
                break
            step *= 0.5
            if step < 1e-12:
                return x
        s, y = candidate - x, new_grad - grad
        if float(s @ y) > 1e-12:
            history.append((s, y, 1.0 / float(s @ y)))
            del history[:-memory]
        improved = value - new_value
        x, value, grad = candidate, new_value, new_grad
        if improved <= 1e-12 * max(1.0, abs(value)):
            break
    return x


def _fit_logistic(z: np.ndarray, targets: np.ndarray, classes: int, l2: float, start: np.ndarray | None) -> np.ndarray:
    onehot = np.eye(classes)[targets]
    x0 = start if start is not None else np.zeros(z.shape[1] * classes + classes)
    return lbfgs(_logistic_loss(z, onehot, l2), x0)


def _log_loss(z: np.ndarray, targets: np.ndarray, theta: np.ndarray, classes: int) -> tuple[float, float]:
    d = z.shape[1]
    p = softmax(z @ theta[: d * classes].reshape(d, classes) + theta[d * classes :])
    picked = np.clip(p[np.arange(len(targets)), targets], 1e-15, 1.0)
    return float(-np.log(picked).mean()), float((p.argmax(axis=1) == targets).mean())


def fit_classes(
    features: np.ndarray, labels: Sequence[str], *, folds: int, seed: int, grid: Sequence[float] = CLASS_L2
) -> Head:
    """Multinomial logistic regression; ``labels`` of two or more distinct classes (checked by the caller)."""
    names = tuple(sorted(set(labels)))
    targets = np.array([names.index(label) for label in labels])
    k = len(names)
    fold_of = stratified_folds(targets, folds, seed)
    losses = np.zeros(len(grid))
    accuracies = np.zeros(len(grid))
    for fold in range(folds):
        train, held = fold_of != fold, fold_of == fold
        mean, scale = standardizer(features[train])
        z_train, z_held = (features[train] - mean) * scale, (features[held] - mean) * scale
        theta = None
        for j in sorted(range(len(grid)), key=lambda i: -grid[i]):  # strongest first: each warm-starts the next
            theta = _fit_logistic(z_train, targets[train], k, grid[j], theta)
            loss, accuracy = _log_loss(z_held, targets[held], theta, k)
            losses[j] += loss * held.sum() / len(targets)
            accuracies[j] += accuracy * held.sum() / len(targets)
    best = min(range(len(grid)), key=lambda i: (round(float(losses[i]), 12), -grid[i]))
    mean, scale = standardizer(features)
    theta = _fit_logistic((features - mean) * scale, targets, k, grid[best], None)
    d = features.shape[1]
    return Head(
        kind="classes",
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        weights=theta[: d * k].reshape(d, k).astype(np.float32),
        bias=theta[d * k :].astype(np.float32),
        labels=names,
        l2=float(grid[best]),
        cv={"cv_log_loss": float(losses[best]), "cv_accuracy": float(accuracies[best])},
    )


# --- numbers -----------------------------------------------------------------------------------------------------


def _ridge(z: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Closed form on standardized features and a centred target: (Z'Z/n + l2 I) w = Z'y/n."""
    n, d = z.shape
    offset = float(y.mean())
    w = np.linalg.solve(z.T @ z / n + l2 * np.eye(d), z.T @ (y - offset) / n)
    return w, offset


def fit_numbers(
    features: np.ndarray, targets: np.ndarray, *, folds: int, seed: int, grid: Sequence[float] = RIDGE_L2
) -> Head:
    """Ridge regression; the target is standardized for the fit and scaled back into the weights, so the head
    answers in the data's own units."""
    y_mean, y_std = float(targets.mean()), float(targets.std()) or 1.0
    y = (targets - y_mean) / y_std
    fold_of = stratified_folds(np.zeros(len(y)), folds, seed)
    errors = np.zeros(len(grid))
    for fold in range(folds):
        train, held = fold_of != fold, fold_of == fold
        mean, scale = standardizer(features[train])
        z_train, z_held = (features[train] - mean) * scale, (features[held] - mean) * scale
        for i, l2 in enumerate(grid):
            w, offset = _ridge(z_train, y[train], l2)
            errors[i] += float(((z_held @ w + offset - y[held]) ** 2).sum()) / len(y)
    best = min(range(len(grid)), key=lambda i: (round(float(errors[i]), 12), -grid[i]))
    mean, scale = standardizer(features)
    w, offset = _ridge((features - mean) * scale, y, grid[best])
    return Head(
        kind="regression",
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        weights=(w * y_std).reshape(-1, 1).astype(np.float32),
        bias=np.array([offset * y_std + y_mean], dtype=np.float32),
        l2=float(grid[best]),
        cv={"cv_rmse": float(np.sqrt(errors[best])) * y_std},
    )
