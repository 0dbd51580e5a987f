"""Video data: the built-in moving-digits set, a folder of real videos with a labels CSV, or UCF101 through
tensorflow-datasets; clips resized, scaled and zero-padded (padding = all-zero frames, masked by the model)."""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tasks.common.cli import UserError
from tasks.common.tables import csv_delimiter, read_text_file
from tasks.common.training import PARALLEL_CALLS, finish_pipeline
from tasks.video_frames import synthetic

VIDEO_SUFFIXES = (".mp4", ".avi", ".gif", ".mov", ".mkv", ".webm")


@dataclass
class ClipSet:
    clips: np.ndarray  # uint8 [n, max_frames, height, width, channels], zero after each clip's end
    labels: np.ndarray  # int32 [n, max_frames] per-frame labels (0 after the end), or [n] clip labels
    lengths: np.ndarray  # int32 [n]


@dataclass
class Splits:
    train: ClipSet
    validation: ClipSet
    test: ClipSet
    classes: tuple  # label names, index = class id
    source: str  # what the data is, written into every output
    offline: bool = False


def load_splits(cfg):
    """Train / validation / test clips as `cfg` (data, dataset, target, frame_size, max_frames, clip counts) asks."""
    if cfg.data:
        return _local_splits(cfg)
    if cfg.dataset == "ucf101":
        return _ucf101_splits(cfg)
    per_frame = cfg.target == "frames"

    def part(count, seed):
        clips, frame_labels, lengths, clip_labels = synthetic.generate_clips(
            count, seed=seed, size=cfg.frame_size, min_frames=min(16, cfg.max_frames), max_frames=cfg.max_frames)
        return ClipSet(clips, frame_labels if per_frame else clip_labels, lengths)

    classes = synthetic.FRAME_CLASSES if per_frame else synthetic.CLIP_CLASSES
    return Splits(part(cfg.train_clips, cfg.seed), part(cfg.eval_clips, cfg.seed + 1),
                  part(cfg.eval_clips, cfg.seed + 2), classes, synthetic.NAME, offline=True)


# ---- real videos ----------------------------------------------------------------------------------------------


def read_video(path, *, frame_size=None, max_frames=None):
    """A video file as uint8 [frames, height, width, 3]; resized to `frame_size` squares and evenly subsampled to
    at most `max_frames` when given. Every way a file can be wrong is one UserError."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; pass a video file (mp4, avi, gif, ...).")
    try:
        frames = np.asarray(iio.imread(path, index=None))
    except Exception as error:  # noqa: BLE001  (imageio raises many kinds for "not a video")
        raise UserError(f"{path} could not be read as a video ({type(error).__name__}); pass an mp4, avi or gif "
                        "file.") from None
    if frames.ndim == 2:  # a grey still image: one frame
        frames = frames[None]
    if frames.ndim == 3:  # a colour still image [h, w, RGB(A)] is one frame; else a grey video [t, h, w]
        frames = frames[None] if frames.shape[-1] in (3, 4) else frames[..., None]
    if frames.ndim != 4 or len(frames) == 0:
        raise UserError(f"{path} has no frames; a clip needs at least one.")
    if frames.shape[-1] == 4:  # RGBA (GIF): drop alpha
        frames = frames[..., :3]
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    if frames.shape[-1] != 3:
        raise UserError(f"{path} has {frames.shape[-1]} channels per frame; expected RGB (3) or grey (1).")
    if max_frames and len(frames) > max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
    if frame_size:
        frames = resize_frames(frames, frame_size)
    return frames.astype(np.uint8)


def resize_frames(frames, size):
    return tf.cast(tf.round(tf.image.resize(frames, (size, size), antialias=True)), tf.uint8).numpy()


def read_labels_csv(path, target):
    """{file name: label} for clip labels (`file,label`) or {file name: {frame: label}} for per-frame labels
    (`file,frame,label`), from a CSV with a header."""
    lines = [line for line in read_text_file(path).splitlines() if line.strip()]
    rows = list(csv.DictReader(lines, delimiter=csv_delimiter(lines)))
    needed = ("file", "frame", "label") if target == "frames" else ("file", "label")
    if not rows or any(column not in rows[0] for column in needed):
        raise UserError(f"{path} needs a header with the columns {', '.join(needed)} (one row per "
                        f"{'frame' if target == 'frames' else 'clip'}); found {list(rows[0]) if rows else 'no rows'}.")
    for number, row in enumerate(rows, start=2):
        empty = [column for column in needed if not (row[column] or "").strip()]
        if empty:
            raise UserError(f"{path} line {number} has no {' and no '.join(empty)}; every row needs "
                            f"{', '.join(needed)}.")
    if target != "frames":
        return {row["file"]: row["label"].strip() for row in rows}
    labels = {}
    for number, row in enumerate(rows, start=2):
        if not row["frame"].strip().isdigit():
            raise UserError(f"{path} line {number}: frame {row['frame']!r} is not a frame number (0, 1, ...).")
        labels.setdefault(row["file"], {})[int(row["frame"])] = row["label"].strip()
    return labels


def read_labelled_videos(folder, *, target, frame_size, max_frames, classes=None):
    """Every video named in `folder`/labels.csv with its labels, as (ClipSet, classes). The classes are the sorted
    label names unless given (an export's), in which case a label it does not know is an error."""
    folder = Path(folder)
    if not folder.is_dir() or not (folder / "labels.csv").exists():
        raise UserError(f"{folder} must be a folder holding the videos and a labels.csv (file,label per clip, or "
                        "file,frame,label per frame).")
    labels = read_labels_csv(folder / "labels.csv", target)
    names = sorted(labels)
    found = sorted({v for item in labels.values() for v in (item.values() if isinstance(item, dict) else [item])})
    if classes is None:
        classes = tuple(found)
        if len(classes) < 2:
            raise UserError(f"{folder}/labels.csv has only one class; a classifier needs at least two.")
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise UserError(f"{folder}/labels.csv has labels {unknown} that the model does not know; it knows "
                        f"{list(classes)}.")
    index = {c: i for i, c in enumerate(classes)}
    names, videos = read_readable_videos(folder, names, frame_size=frame_size, max_frames=max_frames)
    if target == "frames":
        targets = []
        for name, video in zip(names, videos):
            missing = [t for t in range(len(video)) if t not in labels[name]]
            if missing:
                raise UserError(f"{folder}/labels.csv has no label for frame {missing[0]} of {name} (it has "
                                f"{len(video)} frames after subsampling to --max-frames {max_frames}).")
            targets.append([index[labels[name][t]] for t in range(len(video))])
    else:
        targets = [index[labels[name]] for name in names]
    return pad_clips(videos, targets, max_frames), tuple(classes)


def read_readable_videos(folder, names, *, frame_size, max_frames):
    """(names, videos) of the files `names` in `folder` that read as videos. A large video set often has a few
    files that are missing or damaged (a failed download, a truncated copy): up to a tenth of them are left out and
    named in one printed line, rather than losing the whole run to one file; more than that is one error (a wrong
    folder or format, not a few bad files)."""
    kept, videos, unreadable = [], [], {}
    for name in names:
        try:
            videos.append(read_video(folder / name, frame_size=frame_size, max_frames=max_frames))
            kept.append(name)
        except UserError as error:
            unreadable[name] = str(error).split("; ")[0]  # what is wrong, without the advice for one file
    if not unreadable:
        return kept, videos
    reasons = "; ".join(list(unreadable.values())[:3]) + (f"; and {len(unreadable) - 3} more" if len(unreadable) > 3
                                                          else "")
    if len(unreadable) > len(names) // 10:
        raise UserError(f"{len(unreadable)} of the {len(names)} videos in {folder}/labels.csv cannot be used, more "
                        f"than a tenth ({reasons}); fix them or take their rows out of labels.csv.")
    print(f"left out: {len(unreadable)} of {len(names)} videos that cannot be used ({reasons})")
    return kept, videos


def _local_splits(cfg):
    clips, classes = read_labelled_videos(cfg.data, target=cfg.target, frame_size=cfg.frame_size,
                                          max_frames=cfg.max_frames)
    count = len(clips.lengths)
    order = np.random.default_rng(cfg.seed).permutation(count)
    n_test = max(1, round(count * cfg.test_fraction))
    n_val = max(1, round(count * cfg.validation_fraction))
    if count < n_test + n_val + 1:
        raise UserError(f"{cfg.data} has {count} labelled videos; at least {n_test + n_val + 1} are needed for "
                        "train, validation and test.")
    test, validation, train = (subset(clips, part) for part in
                               (order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]))
    return Splits(train, validation, test, classes, f"videos in {cfg.data}")


def subset(clips, index):
    return ClipSet(clips.clips[index], clips.labels[index], clips.lengths[index])


def pad_clips(videos, targets, max_frames):
    """Zero-pad clips (and per-frame targets) to `max_frames` steps."""
    lengths = np.array([len(v) for v in videos], np.int32)
    clips = np.zeros((len(videos), max_frames, *videos[0].shape[1:]), np.uint8)
    for i, video in enumerate(videos):
        clips[i, :len(video)] = video
    if np.ndim(targets[0]) == 0:
        return ClipSet(clips, np.asarray(targets, np.int32), lengths)
    labels = np.zeros((len(videos), max_frames), np.int32)
    for i, target in enumerate(targets):
        labels[i, :len(target)] = target
    return ClipSet(clips, labels, lengths)


def _ucf101_splits(cfg):
    """UCF101 clip labels through tensorflow-datasets (its test split is held out; validation comes from train)."""
    import tensorflow_datasets as tfds

    try:
        (train_ds, test_ds), info = tfds.load("ucf101", split=["train", "test"], data_dir=cfg.tfds_dir,
                                              with_info=True)
    except Exception as error:  # noqa: BLE001
        raise UserError(f"UCF101 could not be loaded through tensorflow-datasets ({type(error).__name__}); it needs "
                        "a network connection or a prepared --tfds-dir.") from None
    classes = tuple(info.features["label"].names)

    def collect(dataset, limit):
        videos, labels = [], []
        for example in dataset.take(limit).as_numpy_iterator():
            video = example["video"]
            if len(video) > cfg.max_frames:
                video = video[np.linspace(0, len(video) - 1, cfg.max_frames).round().astype(int)]
            videos.append(resize_frames(video, cfg.frame_size))
            labels.append(int(example["label"]))
        return pad_clips(videos, labels, cfg.max_frames)

    train = collect(train_ds, cfg.train_clips)
    n_val = max(1, round(len(train.labels) * cfg.validation_fraction))
    validation, train = subset(train, slice(0, n_val)), subset(train, slice(n_val, None))
    return Splits(train, validation, collect(test_ds, cfg.eval_clips), classes, "ucf101 (tensorflow-datasets)")


# ---- pipelines ------------------------------------------------------------------------------------------------


def scale(clips):
    """uint8 [.., h, w, c] -> float32 in [0, 1]; an all-zero (padding) frame stays all zero."""
    return tf.cast(clips, tf.float32) / 255.0


def labels_counted(clip_set):
    """Clip labels [n], or (frame labels [n, t], real frames [n, t]): what class weights are counted over."""
    if clip_set.labels.ndim == 1:
        return clip_set.labels
    return clip_set.labels, np.arange(clip_set.labels.shape[1])[None, :] < clip_set.lengths[:, None]


def make_dataset(clip_set, cfg, *, training, weights=None):
    """(frames float32 [batch, max_frames, h, w, c], labels[, weights: the labels' shape]) batches; shuffled when
    training."""
    columns = (clip_set.clips, clip_set.labels, *(() if weights is None else (weights,)))
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if training:
        dataset = dataset.shuffle(len(clip_set.labels), seed=cfg.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(cfg.batch_size).map(lambda x, *rest: (scale(x), *rest),
                                                num_parallel_calls=PARALLEL_CALLS)
    return finish_pipeline(dataset, autotune=cfg.autotune)
