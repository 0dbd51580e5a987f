"""The sentiment SavedModel: raw strings in, `probability` of positive and `label` out, tokenization in the graph,
the network on its fast path: LSTMs on TensorFlow's fused kernel; on request (`--xla-serving`) XLA-compiled for a
fixed set of shapes that a warm-up file compiles at load (`serving_shapes`)."""

from pathlib import Path

import keras
import tensorflow as tf

import zoo
from tasks.common.cli import UserError
from tasks.common.export import add_endpoint_traced_once, version_folder, write_extras
from tasks.common.serving_shapes import (
    WARMUP_FILE,
    length_buckets,
    predict_by_length,
    predict_in_buckets,
    text_warmup_requests,
    write_warmup_requests,
)
from tasks.common.text import FirstSteps
from tasks.sentiment.data import LABEL_NAMES, make_vectorizer, token_ids


def text_model(network, vectorizer, max_length, tail=0, ngrams=None):
    """The trained network with its preprocessing inside: strings [batch] -> probability of positive [batch, 1].
    What `model.keras` holds, so `keras.models.load_model(...)(tf.constant(["a fine film"]))` needs nothing else:
    the vocabulary and the standardization travel in the file. `ngrams`: ([n-gram models], blend) whose logits
    are blended with the network's (`tasks.sentiment.ngrams`)."""
    words = vectorizer.get_vocabulary(include_special_tokens=False)
    text = keras.Input(shape=(), dtype="string", name="text")
    ids = make_vectorizer(len(words) + 2, words, ragged=False)(text)
    logits = network(FirstSteps(max_length, tail, name="first_steps")(ids))
    if ngrams:
        ngram_models, blend = ngrams
        logits = blend(keras.layers.Concatenate(name="member_logits")([logits, *(m(text) for m in ngram_models)]))
    return keras.Model(text, keras.layers.Activation("sigmoid", name="probability")(logits), name="sentiment")


FAST_PATHS = ("auto", "fused", "xla", "plain")


def write_export(directory, model, vectorizer, *, max_length, bucket_step, extras, tail=0, ngrams=None,
                 fast_path="auto"):
    """Write the SavedModel into `directory`, and `extras` ({file name: dict, or a path to copy}) into
    `directory/assets.extra/`, with the trained network and its preprocessing as `model.keras` (raw strings in:
    `text_model`) and the warm-up requests. Texts are cut to `max_length` tokens as in training: the first ones, or
    with `tail` the first and last (`head_and_tail`). `ngrams`: ([n-gram models], blend), whose logits, from the
    whole text, are blended with the network's.

    How the network runs in the SavedModel (`fast_path`):
    - "fused": LSTM layers on TensorFlow's fused sequence kernel and GRU layers on the zoo's GRU loop
      (`zoo.fuse_recurrent`), on the request's own shape; an LSTM network's large request in groups of rows of
      similar length (`predict_by_length`), which slowed GRU loops instead (bench/README.md);
    - "xla": reviews padded to the training buckets' lengths (`bucket_step`) and batches to powers of two, so the
      XLA-compiled network sees a fixed set of shapes, each compiled by a warm-up record at load;
    - "auto" (the default): "fused" when it runs every recurrent layer (LSTMs and GRUs), else "plain";
    - "plain": the network as plain TensorFlow (Keras's loop) on the request's own shape.
    "auto" never compiles: TF Serving disables XLA unless started with `--xla_cpu_compilation_enabled=true`, and an
    export that needs it would not load in a stock server.
    """
    if fast_path not in FAST_PATHS:
        raise ValueError(f"fast_path={fast_path!r}; choose one of {', '.join(FAST_PATHS)}.")
    if fast_path == "auto":
        fast_path = "fused" if zoo.fuses_every_recurrent_layer(model) else "plain"
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(vectorizer)
    for part in [*ngrams[0], ngrams[1]] if ngrams else ():
        archive.track(part)
    labels = tf.constant(LABEL_NAMES)
    lengths = length_buckets(max_length, bucket_step)
    runs = zoo.fuse_recurrent(model) if fast_path == "fused" else model
    network = tf.function(lambda ids: runs(ids, training=False)[:, 0], jit_compile=fast_path == "xla")  # logits
    # Every recurrent layer on the fused kernel (at inference the recipe's LSTMs, neither stateful nor returning
    # states, run one kernel op per direction), whose cost is rows x the group's longest review
    grouped = zoo.fuses_every_layer(model)
    predict = {"fused": (lambda ids: predict_by_length(network, ids)) if grouped else network,
               "xla": lambda ids: predict_in_buckets(network, ids, lengths), "plain": network}[fast_path]

    def serve(text):
        logits = predict(token_ids(vectorizer, text, max_length, tail))
        if ngrams:
            ngram_models, blend = ngrams
            logits = blend(tf.stack([logits, *(m(text)[:, 0] for m in ngram_models)], axis=1))[:, 0]
        probability = tf.sigmoid(logits)
        return {"probability": probability, "label": tf.gather(labels, tf.cast(probability >= 0.5, tf.int32))}

    add_endpoint_traced_once(archive, "serving_default", serve, [tf.TensorSpec([None], tf.string, name="text")])
    archive.write_out(str(directory), verbose=False)
    extra = Path(directory) / "assets.extra"
    extra.mkdir()
    text_model(model, vectorizer, max_length, tail, ngrams).save(extra / "model.keras")
    (extra / "labels.txt").write_text("\n".join(LABEL_NAMES) + "\n")
    if fast_path == "xla":  # compiles each (length, batch) shape; the other paths take `Run.finish`'s warm-up
        write_warmup_requests(extra / WARMUP_FILE, text_warmup_requests(lengths))
    write_extras(extra, extras)


def load_export(path):
    """The `serving_default` function of a sentiment export. `path` is a version folder, or a model folder whose
    newest version is taken."""
    path = version_folder(path, "sentiment")
    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise UserError(f"{path} has no serving_default signature; it is not a sentiment export.")
    signature = loaded.signatures["serving_default"]
    if set(signature.structured_input_signature[1]) != {"text"}:
        raise UserError(f"{path} does not take a 'text' input; it is not a sentiment export.")
    return signature


def predict_texts(signature, texts, batch_size=256):
    """(probabilities, labels) of an export for a list of strings, in batches."""
    probabilities, labels = [], []
    for start in range(0, len(texts), batch_size):
        out = signature(text=tf.constant(texts[start:start + batch_size], tf.string))
        probabilities += out["probability"].numpy().tolist()
        labels += [label.decode() for label in out["label"].numpy()]
    return probabilities, labels
