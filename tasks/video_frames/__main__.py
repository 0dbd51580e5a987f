"""Video-frame classification recipe: a per-frame CNN feeding a (bidirectional) RNN that labels every frame of a
clip (many-to-many) or the whole clip (many-to-one), exported as a SavedModel that takes raw frames.

    python -m tasks.video_frames                                # the built-in moving-digits set, a label per frame
    python -m tasks.video_frames --target clip                  # one label per clip
    python -m tasks.video_frames --data videos/                 # a folder of videos with labels.csv
    python -m tasks.video_frames evaluate --model saved_models/video_frames --data videos/
    python -m tasks.video_frames predict --model saved_models/video_frames clip.mp4
"""

import dataclasses
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common import cli  # noqa: E402  (cli.ClassWeightFlags: the classifiers' shared flag)
from tasks.common.cli import UserError, dispatch, flag, recipe_parser, require_fraction, require_positive, run_cli  # noqa: E402
from tasks.common.distribute import DistributionFlags  # noqa: E402

# TensorFlow and the zoo are imported inside the commands, so that `--help` and flag errors answer at once.


@dataclasses.dataclass
class Config(cli.ClassWeightFlags, DistributionFlags):
    # data
    data: str | None = flag(None, "a folder of videos (mp4/avi/gif) with labels.csv: file,label per clip, or "
                                  "file,frame,label per frame")
    dataset: str = flag("generated", "generated: the built-in moving-digits set; ucf101: UCF101 clip labels from "
                                     "tensorflow-datasets", choices=("generated", "ucf101"))
    tfds_dir: str | None = flag(None, "tensorflow-datasets cache folder (default: ~/tensorflow_datasets)")
    target: str = flag("frames", "a label for every frame (many-to-many) or one for the clip (many-to-one)",
                       choices=("frames", "clip"))
    train_clips: int = flag(3000, "generated (or UCF101) training clips")
    eval_clips: int = flag(500, "generated validation clips, and as many test clips")
    frame_size: int = flag(32, "frames are resized to this many pixels square")
    max_frames: int = flag(32, "longer clips are evenly subsampled to this many frames")
    validation_fraction: float = flag(0.1, "part of a --data folder's clips held out for validation")
    test_fraction: float = flag(0.2, "part of a --data folder's clips held out for the test")
    # model
    cell: str = flag("gru", "recurrent cell", choices=("simple_rnn", "lstm", "gru"))
    bidirectional: bool = flag(True, "read each clip in both directions (the first frames then see what follows)")
    num_layers: int = flag(1, "stacked recurrent layers")
    units: int = flag(64, "units per direction and layer")
    filters: str = flag("16,32", "Conv2D widths of the per-frame CNN, comma-separated")
    dropout: float = flag(0.2, "dropout on each recurrent layer's inputs")
    # training
    epochs: int = flag(15, "maximum epochs (early stopping may end sooner)")
    batch_size: int = flag(32, "clips per batch (per replica when distributed)")
    learning_rate: float = flag(2e-3, "Adam learning rate")
    patience: int = flag(3, "epochs without a better validation loss before stopping")
    xla: bool = flag(False, "compile the training step with XLA")
    seed: int = flag(0, "random seed: the same seed gives the same result on the same machine")
    run_dir: str = flag("runs/video_frames", "checkpoints, TensorBoard logs, metrics and plots; rerun to resume")
    export_dir: str = flag("saved_models", "exports go to <export-dir>/video_frames/<version>/")

    def __post_init__(self):
        require_positive(self, "train_clips", "eval_clips", "frame_size", "max_frames", "num_layers", "units", "epochs",
                               "batch_size")
        require_fraction(self, "validation_fraction", "test_fraction", "dropout")
        if self.dataset == "ucf101" and self.target != "clip" and not self.data:
            raise UserError("--dataset ucf101 has clip labels only; pass --target clip.")
        if self.frame_size < 4 or self.frame_size % 4:
            raise UserError(f"--frame-size must be a multiple of 4, at least 4 (got {self.frame_size}).")
        try:
            widths = [int(w) for w in self.filters.split(",")]
        except ValueError:
            widths = []
        if not widths or min(widths) <= 0:
            raise UserError(f"--filters must be positive integers separated by commas, e.g. 16,32 "
                            f"(got {self.filters!r}).")


def train(cfg):
    """config -> data -> model -> fit -> evaluate -> export. Returns the metrics dict."""
    from tasks.common.run import Run

    run = Run("video_frames", cfg, unit="clips")

    import keras
    import numpy as np

    import zoo
    from tasks.common.reports import plot_confusion, recall_line
    from tasks.common.training import class_weights
    from tasks.video_frames.data import labels_counted, load_splits, make_dataset
    from tasks.video_frames.evaluation import plot_accuracy_by_position, plot_frame_strip, video_metrics
    from tasks.video_frames.serving import write_export

    # Data: generated splits come from different seeds; the test split is used once, at the end.
    splits = load_splits(cfg)
    run.data(splits.source, f"{len(splits.train.lengths)} train / {len(splits.validation.lengths)} validation / "
                            f"{len(splits.test.lengths)} test clips, {len(splits.classes)} classes, target: "
                            f"{cfg.target}", offline=splits.offline)
    weights = class_weights(cfg.class_weights, {name: labels_counted(part) for name, part in
                                                (("train", splits.train), ("validation", splits.validation))},
                            len(splits.classes), unit="frame" if cfg.target == "frames" else "clip")
    train_ds = make_dataset(splits.train, cfg, training=True, weights=weights and weights["train"])
    val_ds = make_dataset(splits.validation, cfg, training=False, weights=weights and weights["validation"])

    # Model from the zoo: per-frame CNN (keeping where things are) -> (Bi)RNN -> a softmax per frame or per clip.
    channels = splits.train.clips.shape[-1]
    with run.scope():
        model = zoo.build("many_to_many" if cfg.target == "frames" else "many_to_one", input="frames",
                          frame_shape=(cfg.frame_size, cfg.frame_size, channels),
                          frame_filters=[int(w) for w in cfg.filters.split(",")], frame_pooling="flatten",
                          cell=cfg.cell, units=cfg.units, num_layers=cfg.num_layers,
                          bidirectional=cfg.bidirectional, dropout=cfg.dropout, num_outputs=len(splits.classes))
        # Padded frames carry the input's mask to the outputs, so the loss and accuracy count real frames only.
        model.compile(optimizer=zoo.FusedAdam(cfg.learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")], jit_compile=cfg.xla)
    model = run.fit(model, train_ds, validation_data=val_ds, samples_per_epoch=len(splits.train.lengths))
    if not run.is_chief:
        return run.worker_result()

    # Evaluate once on the test split.
    predicted = np.argmax(model.predict(make_dataset(splits.test, cfg, training=False), verbose=0), axis=-1)
    test = video_metrics(splits.test.labels, predicted, splits.test.lengths, splits.classes)
    plot_confusion(test["confusion_matrix"], splits.classes, run.figure("confusion_matrix.png"), "test split")
    if cfg.target == "frames":
        plot_accuracy_by_position(test["accuracy_by_position"], run.figure("accuracy_by_position.png"),
                                  f"test accuracy by frame position ({cfg.cell}, "
                                  f"{'bidirectional' if cfg.bidirectional else 'left to right'})")
        plot_frame_strip(splits.test.clips[0], splits.test.lengths[0], splits.test.labels[0], predicted[0],
                         splits.classes, run.figure("test_clip.png"),
                         "a test clip: true and predicted label per frame")
        result = (f"test{run.marker}: frame accuracy {test['frame_accuracy']:.4f}  first 3 frames "
                  f"{test['first_3_frames_accuracy']:.4f}  whole clips right {test['clip_accuracy']:.4f}  "
                  f"({test['frames']} frames, {test['clips']} clips)")
    else:
        result = f"test{run.marker}: clip accuracy {test['clip_accuracy']:.4f}  ({test['clips']} clips)"
    result += f"  balanced accuracy {test['balanced_accuracy']:.4f}"
    return run.finish(
        {"target": cfg.target, "classes": list(splits.classes), "test": test},
        export=lambda folder, extras: write_export(folder, model, classes=list(splits.classes),
                                                   frame_size=cfg.frame_size, channels=channels, extras=extras),
        warmup=_warmup_clip(splits.train),
        config={"classes": list(splits.classes)}, summary=[result, recall_line(test)])


def _warmup_clip(part):
    """The warm-up input of both signatures: a training clip's first two frames (any length serves, and a whole
    clip of float frames would make the warm-up file megabytes)."""
    frames = part.clips[0][:2]
    return {"serving_default": {"frames": frames.astype("float32") / 255.0}, "serving_uint8": {"frames": frames}}


def evaluate(args):
    import numpy as np

    from tasks.video_frames.data import read_labelled_videos
    from tasks.video_frames.evaluation import video_metrics
    from tasks.video_frames.serving import classify_clips, load_export

    signature, config = load_export(args.model)
    clips, classes = read_labelled_videos(args.data, target=config["target"], frame_size=config["frame_size"],
                                          max_frames=config["max_frames"], classes=config["classes"])
    predicted = np.argmax(classify_clips(signature, clips.clips)["probabilities"], axis=-1)
    metrics = video_metrics(clips.labels, predicted, clips.lengths, classes)
    print(json.dumps(metrics, indent=2))
    return metrics


def predict(args):
    from tasks.video_frames.data import read_video
    from tasks.video_frames.serving import classify_clips, load_export

    signature, config = load_export(args.model)
    results = []
    for path in args.videos:
        frames = read_video(path, frame_size=config["frame_size"], max_frames=config["max_frames"])
        labels = [label.decode() for label in classify_clips(signature, frames[None])["labels"].ravel()]
        print(f"{path}\t{' '.join(labels)}")
        results.append(labels)
    return results


def parser():
    top, commands = recipe_parser("python -m tasks.video_frames", __doc__, Config)
    ev = commands.add_parser("evaluate", help="accuracy of an export on a folder of labelled videos")
    ev.add_argument("--model", required=True, help="an export folder (saved_models/video_frames[/<version>])")
    ev.add_argument("--data", required=True, help="a folder of videos with labels.csv, as for training")
    pr = commands.add_parser("predict", help="label the frames (or the clip) of video files")
    pr.add_argument("--model", required=True, help="an export folder (saved_models/video_frames[/<version>])")
    pr.add_argument("videos", nargs="+", help="video files (mp4, avi, gif, ...)")
    return top


def main(argv=None):
    return dispatch(argv, parser(), {"evaluate": evaluate, "predict": predict}, Config, train)


if __name__ == "__main__":
    run_cli(main)
