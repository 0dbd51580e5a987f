"""The video SavedModel: frames [batch, time, height, width, channels] in, per-frame (or per-clip) class
probabilities and label names out.

Two signatures take the same clips in two encodings: `serving_default` float32 in [0, 1], `serving_uint8` uint8 in
[0, 255]. Any number of frames and any frame size (resized in the graph); all-zero frames at the end are padding.
"""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
from tasks.common.cli import UserError
from tasks.common.export import add_endpoint_traced_once, version_folder, write_extras


def write_export(directory, model, *, classes, frame_size, channels, extras):
    """Write the SavedModel into `directory`; `extras` ({file name: dict, or a path to copy}), the class names and
    the trained model (`model.keras`) go to `directory/assets.extra/`."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    names = tf.constant(classes)
    # GRUs on the zoo's loop, LSTMs on the fused kernel: a 20-frame clip 2.4x faster (bench/gru_serving.py)
    serves = zoo.fuse_recurrent(model)

    def classify(frames):
        """float32 frames in [0, 1] -> {probabilities, labels}."""
        shape = tf.shape(frames)
        flat = tf.reshape(frames, tf.concat([[-1], shape[2:]], axis=0))
        flat = tf.image.resize(flat, (frame_size, frame_size), antialias=True)
        resized = tf.reshape(flat, tf.concat([shape[:2], [frame_size, frame_size, channels]], axis=0))
        probabilities = tf.nn.softmax(serves(resized, training=False), axis=-1)
        return {"probabilities": probabilities, "labels": tf.gather(names, tf.argmax(probabilities, axis=-1))}

    add_endpoint_traced_once(archive, "serving_default", classify,
                             [tf.TensorSpec([None, None, None, None, channels], tf.float32, name="frames")])
    add_endpoint_traced_once(archive, "serving_uint8", lambda frames: classify(tf.cast(frames, tf.float32) / 255.0),
                             [tf.TensorSpec([None, None, None, None, channels], tf.uint8, name="frames")])
    archive.write_out(str(directory), verbose=False)
    extra = Path(directory) / "assets.extra"
    extra.mkdir()
    model.save(extra / "model.keras")
    (extra / "classes.txt").write_text("\n".join(classes) + "\n", encoding="utf-8")
    write_extras(extra, extras)


def load_export(path):
    """(the `serving_uint8` function, the training config) of a video export (a version folder, or a model folder:
    its newest version)."""
    path = version_folder(path, "video_frames")
    loaded = tf.saved_model.load(str(path))
    config_file = path / "assets.extra" / "config.json"
    if "serving_uint8" not in loaded.signatures or not config_file.exists():
        raise UserError(f"{path} has no serving_uint8 signature and config; it is not a video_frames export.")
    return loaded.signatures["serving_uint8"], json.loads(config_file.read_text())


def classify_clips(signature, clips):
    """Run an export on uint8 clips [n, time, h, w, c] of one length, in batches; returns {probabilities, labels}."""
    channels = signature.structured_input_signature[1]["frames"].shape[-1]
    if clips.shape[-1] != channels:
        raise UserError(f"the clip has {clips.shape[-1]} channels per frame; this model takes {channels}.")
    if clips.shape[1] == 0:
        raise UserError("the clip has zero frames; a clip needs at least one.")
    outputs = [signature(frames=tf.constant(clips[i:i + 32])) for i in range(0, len(clips), 32)]
    return {"probabilities": np.concatenate([o["probabilities"].numpy() for o in outputs]),
            "labels": np.concatenate([o["labels"].numpy() for o in outputs])}
