"""Video metrics (per frame, per clip, by frame position) and their plots."""

import numpy as np

from tasks.common.reports import class_metrics, plt


def video_metrics(labels, predictions, lengths, class_names):
    """Accuracy over real frames (per-frame labels [n, t]) or clips (clip labels [n]), with the balanced accuracy,
    each class's recall and the confusion matrix over the same; for per-frame labels also the accuracy of whole
    clips (every frame right), of the first 3 frames, and at each frame position."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.ndim == 1:
        by_class = class_metrics(labels, predictions, class_names)
        return {"clips": int(len(labels)), "clip_accuracy": by_class.pop("accuracy"), **_without_count(by_class)}
    real = np.arange(labels.shape[1])[None, :] < np.asarray(lengths)[:, None]
    right = (labels == predictions) & real
    by_position = right.sum(0) / np.maximum(real.sum(0), 1)
    by_class = class_metrics(labels[real], predictions[real], class_names)
    return {
        "clips": int(len(labels)), "frames": int(real.sum()),
        "frame_accuracy": by_class.pop("accuracy"),
        "clip_accuracy": float(np.mean(right.sum(1) == real.sum(1))),  # every frame of the clip right
        "first_3_frames_accuracy": float(right[:, :3].sum() / real[:, :3].sum()),
        "accuracy_by_position": [float(a) for a, n in zip(by_position, real.sum(0)) if n],
        **_without_count(by_class),  # per frame
    }


def _without_count(metrics):
    return {k: v for k, v in metrics.items() if k != "examples"}


def plot_accuracy_by_position(accuracy, path, title):
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(range(len(accuracy)), accuracy, marker="o")
    ax.set_xlabel("frame position in the clip")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_frame_strip(clip, length, true, predicted, classes, path, title, most=12):
    """Frames of one test clip in a row, each with its true and predicted label underneath."""
    shown = np.linspace(0, length - 1, min(most, length)).round().astype(int)
    fig, axes = plt.subplots(1, len(shown), figsize=(1.3 * len(shown), 2.2), squeeze=False)
    for ax, t in zip(axes[0], shown):
        ax.imshow(clip[t])
        ax.set_xticks([])
        ax.set_yticks([])
        right = true[t] == predicted[t]
        ax.set_xlabel(f"{t}\ntrue {classes[true[t]]}\npred {classes[predicted[t]]}", fontsize=6,
                      color="black" if right else "red")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
