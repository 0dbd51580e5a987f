"""Honest evaluation numbers and plots (PNG) for classification recipes."""

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support  # noqa: E402


def class_metrics(labels, predicted, class_names):
    """Accuracy, balanced accuracy (the mean recall over the classes present), each class's recall and the confusion
    matrix (rows: true class, columns: predicted), for integer labels and predictions of the same shape."""
    labels, predicted = np.asarray(labels).ravel(), np.asarray(predicted).ravel()
    recall = {str(name): float(np.mean(predicted[labels == k] == k)) for k, name in enumerate(class_names)
              if np.any(labels == k)}
    return {"examples": int(len(labels)), "accuracy": float(accuracy_score(labels, predicted)),
            "balanced_accuracy": float(np.mean(list(recall.values()))), "recall_by_class": recall,
            "confusion_matrix": confusion_matrix(labels, predicted, labels=range(len(class_names))).tolist()}


def binary_metrics(y_true, y_prob, threshold=0.5, class_names=("negative", "positive")):
    """`class_metrics`, with the precision, recall and F1 of the positive class (the confusion matrix is
    [[tn, fp], [fn, tp]])."""
    y_pred = (np.asarray(y_prob) >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)
    return {**class_metrics(y_true, y_pred, class_names), "precision": float(precision), "recall": float(recall),
            "f1": float(f1)}


def recall_line(metrics, most=20):
    """"  recall by class: a 0.91, b 0.40, ..." with the lowest first (they are the ones to look at)."""
    ranked = sorted(metrics["recall_by_class"].items(), key=lambda kv: kv[1])
    shown = ", ".join(f"{name} {value:.2f}" for name, value in ranked[:most])
    return f"  recall by class: {shown}{' ...' if len(ranked) > most else ''}"


def plot_history(history, path, title):
    """Loss and every other metric that has a validation twin, per epoch."""
    names = [k for k in history if f"val_{k}" in history]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", label="train")
        ax.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(matrix, class_names, path, title):
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(class_names)), class_names)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
