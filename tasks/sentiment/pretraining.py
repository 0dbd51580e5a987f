"""Language-model pretraining for the sentiment classifier (Dai & Le 2015; ULMFiT): the zoo's causal many_to_many
over the classifier's own tokens learns to predict the next word of unlabeled and training reviews, left to right,
and for a bidirectional classifier a second one right to left (with the first one's embedding, frozen, so both
directions share one embedding as the classifier does). `zoo.transfer_encoder` then starts the classifier from them.

The pretrained encoder is a folder of its own (`forward.keras`, `backward.keras` when bidirectional,
`vocabulary.txt`, `encoder.json`): a run keeps it in its run folder, the export carries it in
`assets.extra/encoder/`, and `--encoder FOLDER` starts another run (or another app, through `zoo.transfer_encoder`)
from it.
"""

import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
from tasks.common.cli import UserError
from tasks.common.text import read_vocabulary, write_vocabulary
from tasks.common.training import fit_verbosity
from tasks.sentiment.data import make_vectorizer, tokenize_all

DIRECTIONS = ("forward", "backward")
ENCODER = "encoder"  # the encoder folder's name in a run folder and in an export's assets.extra/
# The settings an encoder depends on: the texts and the training split (its vocabulary), the network, the schedule.
PRETRAINING_SETTINGS = ("data", "dataset", "tfds_dir", "validation_fraction", "test_fraction", "group_by", "unlabeled",
                        "pretrain",
                        "vocab_size", "cell", "bidirectional", "num_layers", "units", "embedding_dim",
                        "batch_size", "pretrain_epochs", "pretrain_length", "pretrain_tokens", "pretrain_sampled",
                        "pretrain_learning_rate", "pretrain_dropout", "seed")


def language_model_data(ids, *, reverse, length, batch_size, seed, max_tokens=0, validation_fraction=0.02):
    """(training batches, validation batches, words trained on) of next-word windows: every text's ids (a ragged
    [texts, words] tensor; each text reversed when `reverse`) one after another as one stream, cut to `max_tokens`
    when positive, in windows of `length` words and the `length` words that follow them. The last
    `validation_fraction` of the windows is held out. The words count those trained on in an epoch."""
    stream, splits = ids.flat_values.numpy(), ids.row_splits.numpy()
    if reverse:  # the word at position g of its text [start, end) comes from position start + end - 1 - g
        row = np.repeat(np.arange(len(splits) - 1), np.diff(splits))
        stream = stream[splits[row] + splits[row + 1] - 1 - np.arange(len(stream))]
    if max_tokens:
        stream = stream[:max_tokens + 1]
    count = (len(stream) - 1) // length
    if count < 2:
        raise UserError(f"the unlabeled and training texts hold {len(stream)} words: too few for two language-model "
                        f"windows of {length}; give more text or a smaller --pretrain-length.")
    inputs = stream[:count * length].reshape(count, length)
    targets = stream[1:count * length + 1].reshape(count, length)
    held = max(1, int(count * validation_fraction))
    # One batch shape each for training and validation (a short last batch is dropped when there are full ones),
    # so each language model traces one graph for each: a second shape per direction set off tf.function's
    # "frequent retracing" warning on a normal run. Training windows are reshuffled every epoch, so which few are
    # left out changes from epoch to epoch.
    windows = count - held
    full_batches = windows >= batch_size
    trained = windows // batch_size * batch_size if full_batches else windows
    train = tf.data.Dataset.from_tensor_slices((inputs[:-held], targets[:-held])).shuffle(
        windows, seed=seed, reshuffle_each_iteration=True).batch(batch_size, drop_remainder=full_batches)
    validation = tf.data.Dataset.from_tensor_slices((inputs[-held:], targets[-held:])).batch(
        batch_size, drop_remainder=held >= batch_size)
    return train, validation, trained * length


def build_language_model(cfg, vocab_size):
    """The classifier's embedding and recurrent stack, unidirectional, with a next-word head over the vocabulary."""
    return zoo.build("many_to_many", input="tokens", vocab_size=vocab_size, embedding_dim=cfg.embedding_dim,
                     cell=cfg.cell, units=cfg.units, num_layers=cfg.num_layers, dropout=cfg.pretrain_dropout,
                     num_outputs=vocab_size)


def pretrain(cfg, texts, vectorizer):
    """Train the language models (`forward`, and `backward` for a bidirectional classifier) on `texts`. Returns
    ({direction: model}, {direction: {"train_loss", "validation_loss", "seconds", "words"}})."""
    ids = tokenize_all(vectorizer, texts, max_length=2**31 - 1)
    models, report = {}, {}
    for direction in DIRECTIONS[:2 if cfg.bidirectional else 1]:
        train, validation, words = language_model_data(
            ids, reverse=direction == "backward", length=cfg.pretrain_length, batch_size=cfg.batch_size,
            seed=cfg.seed, max_tokens=cfg.pretrain_tokens)
        model = build_language_model(cfg, vectorizer.vocabulary_size())
        if direction == "backward":  # one embedding for both directions, as the classifier has
            model.get_layer("embedding").set_weights(models["forward"].get_layer("embedding").get_weights())
            model.get_layer("embedding").trainable = False
        trainer = zoo.SampledSoftmaxTraining(model, num_sampled=cfg.pretrain_sampled)
        trainer.compile(optimizer=zoo.FusedAdam(cfg.pretrain_learning_rate, clipnorm=1.0))
        softmax = f"{trainer.num_sampled} sampled words" if trainer.num_sampled else "the full softmax"
        print(f"pretraining the {direction} language model on {words:,} words, windows of {cfg.pretrain_length}, "
              f"{softmax}")
        started = time.perf_counter()
        history = trainer.fit(train, validation_data=validation, epochs=cfg.pretrain_epochs, shuffle=False,
                            verbose=fit_verbosity())  # the windows are shuffled by the dataset
        # Kept uncompiled: its optimizer state is of no use to a classifier, and a model reloaded with the frozen
        # embedding made trainable again would not match it.
        models[direction] = build_language_model(cfg, vectorizer.vocabulary_size())
        models[direction].set_weights(model.get_weights())
        report[direction] = {"train_loss": float(history.history["loss"][-1]),
                             "validation_loss": float(history.history["val_loss"][-1]),
                             "seconds": time.perf_counter() - started, "words": words}
    _forget_traces()
    return models, report


def word_vectors(cfg, texts, vectorizer):
    """Word vectors for the classifier's vocabulary counted on `texts` (`tasks.common.word_vectors`): {"vectors",
    "seen", "report"}. Too little text is a UserError."""
    from tasks.common.word_vectors import ppmi_svd_vectors

    started = time.perf_counter()
    ids = tokenize_all(vectorizer, texts, max_length=2**31 - 1)
    if cfg.pretrain_tokens:
        ids = ids[:int(np.searchsorted(ids.row_splits.numpy(), cfg.pretrain_tokens, side="right")) - 1]
    try:
        vectors, seen = ppmi_svd_vectors(ids, vectorizer.vocabulary_size(), cfg.embedding_dim,
                                         scale=cfg.word_vector_scale, seed=cfg.seed)
    except ValueError as error:
        raise UserError(f"--unlabeled: {error}; give more unlabeled text.") from None
    report = {"words": int(ids.flat_values.shape[0]), "words_with_vectors": int(seen.sum()),
              "vocabulary_size": int(vectorizer.vocabulary_size()), "seconds": time.perf_counter() - started}
    print(f"word vectors for {report['words_with_vectors']:,} of {report['vocabulary_size']:,} words, counted on "
          f"{report['words']:,} words of unlabeled and training text in {report['seconds']:.0f} s")
    return {"vectors": vectors, "seen": seen, "report": report}


def start_embedding(model, vectors):
    """Start `model`'s embedding from `word_vectors`'s vectors; words without one keep their initial vectors."""
    layer = model.get_layer("embedding")
    (weights,) = layer.get_weights()
    weights[vectors["seen"]] = vectors["vectors"][vectors["seen"]]
    layer.set_weights([weights])


def _forget_traces():
    """Start TensorFlow's count of recent traces afresh for the classifier. TF counts the traces of every Keras
    model's step together (its detector keys on the step function's code, which all Keras models share), so the
    language models' own first traces made the classifier's first ones read as "frequent retracing" on a normal run.
    The detector is TF's private state: when it is not where TF 2.21 keeps it, nothing is done."""
    from tensorflow.python.eager.polymorphic_function import polymorphic_function

    if hasattr(polymorphic_function, "_FrequentTracingDetectorManager"):
        polymorphic_function._frequent_tracing_detector_manager = \
            polymorphic_function._FrequentTracingDetectorManager()


def save_encoder(folder, models, vectorizer, report, cfg):
    """Write the encoder folder atomically (a temporary sibling, renamed into place), with the settings it was
    pretrained with, so an interrupted run that finds it with the same settings starts from it."""
    folder = Path(folder)
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for direction, model in models.items():
        model.save(partial / f"{direction}.keras")
    write_vocabulary(partial / "vocabulary.txt", vectorizer)
    settings = {name: getattr(cfg, name) for name in PRETRAINING_SETTINGS}
    (partial / "encoder.json").write_text(json.dumps(
        {"directions": list(models), "pretraining": report, "settings": settings}, indent=2, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)


def _recorded(folder):
    """What `encoder.json` in `folder` says ({} when there is none, or it cannot be read)."""
    try:
        return json.loads((Path(folder) / "encoder.json").read_text())
    except (OSError, ValueError):
        return {}


def pretrained_here(folder, cfg):
    """Whether `folder` holds an encoder pretrained with `cfg`'s settings (an interrupted run's)."""
    return bool(cfg.unlabeled) and _recorded(folder).get("settings") == json.loads(json.dumps(
        {name: getattr(cfg, name) for name in PRETRAINING_SETTINGS}, default=str))


def pretraining_report(folder):
    """What `encoder.json` says of how the encoder in `folder` was pretrained ({} if it says nothing)."""
    return _recorded(folder).get("pretraining", {})


def load_encoder(folder):
    """({direction: language model}, the TextVectorization of its vocabulary) from an encoder folder."""
    folder = Path(folder)
    if not (folder / "forward.keras").is_file() or not (folder / "vocabulary.txt").is_file():
        raise UserError(f"{folder} is not a pretrained encoder folder (it needs forward.keras and vocabulary.txt, "
                        "as a run's encoder/ or an export's assets.extra/encoder/ holds them).")
    models = {}
    for direction in DIRECTIONS:
        if (folder / f"{direction}.keras").is_file():
            try:
                models[direction] = keras.models.load_model(folder / f"{direction}.keras")
            except Exception as error:  # a damaged or foreign file: say which, not a traceback
                raise UserError(f"{folder / f'{direction}.keras'} could not be read as a language model "
                                f"({type(error).__name__}: {str(error)[:200]}).") from None
    words = read_vocabulary(folder / "vocabulary.txt")
    return models, make_vectorizer(len(words) + 2, words)


def start_from(classifier, models, source):
    """`zoo.transfer_encoder` into the classifier; a mismatch is a UserError naming `source`."""
    if classifier.builder_config.get("bidirectional") and "backward" not in models:
        raise UserError(f"{source} has a forward language model only; a bidirectional classifier needs the "
                        "backward one too (pretrain with --bidirectional, or train with --no-bidirectional).")
    try:
        return zoo.transfer_encoder(classifier, models["forward"], models.get("backward"))
    except ValueError as error:
        raise UserError(f"{source} does not fit this classifier: {error}") from None
