"""The names recipe's two tasks, each config -> data -> model -> fit -> evaluate -> export on a started `Run`:
`train_classifier` (many-to-one: a surname's language) and `train_generator` (one-to-many: surnames for a language).
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
from tasks.common.export import add_endpoint_traced_once, write_extras
from tasks.common.reports import class_metrics, plot_confusion, recall_line
from tasks.common.text import CharacterIds, decoder_inputs
from tasks.common.training import class_weights, finish_pipeline
from tasks.names.data import END, MARKERS, START, NameGenerator, char_ids, load_names, split


def train_classifier(cfg, run):
    """A surname's language: characters -> (Bi)RNN -> softmax over the languages."""
    names, (train, validation, test), chars, languages = _prepare(cfg, run)
    ids = char_ids(names.names, chars, markers=False)
    labels = np.array([languages.index(x) for x in names.languages], np.int32)
    weights = class_weights(cfg.class_weights, {"train": labels[train], "validation": labels[validation]},
                            len(languages), unit="name")

    def examples(part, name):
        return (ids[part], labels[part]) if weights is None else (ids[part], labels[part], weights[name])

    model = _fit(cfg, run, lambda: zoo.build(
        "many_to_one", input="tokens", vocab_size=len(chars) + len(MARKERS), cell=cfg.cell, units=cfg.units,
        num_layers=cfg.num_layers, bidirectional=True, dropout=cfg.dropout, embedding_dim=cfg.embedding_dim,
        num_outputs=len(languages)), examples(train, "train"), examples(validation, "validation"))
    if not run.is_chief:
        return run.worker_result()
    predicted = np.argmax(model.predict(ids[test], verbose=0), axis=-1)
    test_metrics = class_metrics(labels[test], predicted, languages)
    plot_confusion(test_metrics["confusion_matrix"], languages, run.figure("confusion_matrix.png"),
                   f"test names{run.marker}")
    classifier = name_classifier(model, chars)
    serves = zoo.fuse_recurrent(classifier)  # GRUs on the zoo's loop: 1.31x faster for one name (bench/gru_serving.py)
    words = tf.constant(languages)

    def classify(name):
        probabilities = serves(name, training=False)
        return {"probabilities": probabilities, "language": tf.gather(words, tf.argmax(probabilities, axis=-1))}

    return run.finish(
        {"languages": languages, "test": test_metrics},
        export=lambda folder, extras: _export(folder, extras, classifier, [], classify,
                                              [tf.TensorSpec([None], tf.string, name="name")]),
        warmup={"serving_default": {"name": names.names[train[0]]}},
        config={"characters": chars, "languages": languages},
        summary=[f"test{run.marker}: accuracy {test_metrics['accuracy']:.4f}, balanced accuracy (mean recall over "
                 f"languages) {test_metrics['balanced_accuracy']:.4f} ({len(test)} names)", recall_line(test_metrics)])


def train_generator(cfg, run):
    """New surnames for a language: the language (one-hot) sets the state of a character decoder (teacher forcing)."""
    names, (train, validation, test), chars, languages = _prepare(cfg, run)
    ids = char_ids(names.names, chars, markers=True)
    vectors = np.eye(len(languages), dtype=np.float32)[[languages.index(x) for x in names.languages]]

    def inputs(index):
        return {"vector": vectors[index], "previous_tokens": np.asarray(decoder_inputs(ids[index], END))}

    model = _fit(cfg, run, lambda: zoo.build(
        "one_to_many", input="features", feature_dim=len(languages), decoder="autoregressive", cell=cfg.cell,
        units=cfg.units, num_layers=cfg.num_layers, dropout=cfg.dropout, target_embedding_dim=cfg.embedding_dim,
        num_outputs=len(chars) + len(MARKERS)), (inputs(train), ids[train, 1:]),
        (inputs(validation), ids[validation, 1:]))
    if not run.is_chief:
        return run.worker_result()
    scorer = name_scorer(model, chars, languages)  # what model.keras holds
    nats = nats_per_character(scorer, [names.names[i] for i in test], [names.languages[i] for i in test])
    generator = NameGenerator(model, chars, languages)
    generate = tf.function(generator.generate)
    samples = {}
    for language in languages:
        out = generate(tf.constant([language] * 4), tf.constant(["", "", "", ""]),
                       tf.constant([0.0, 0.8, 0.8, 0.8]))
        samples[language] = [n.decode("utf-8") for n in out["name"].numpy()]
    signature = [tf.TensorSpec([None], tf.string, name="language"), tf.TensorSpec([None], tf.string, name="prefix"),
                 tf.TensorSpec([None], tf.float32, name="temperature")]
    return run.finish(
        {"languages": languages, "test": {"names": int(len(test)), "nats_per_char": nats}, "samples": samples},
        export=lambda folder, extras: _export(
            folder, extras, scorer,
            [generator.models["encode"], generator.models["decode_step"], generator.lookup, generator.language_lookup],
            generator.generate, signature),
        warmup={"serving_default": {"language": languages[0], "prefix": names.names[train[0]][:1],
                                    "temperature": np.float32(0.8)}},
        config={"characters": chars, "languages": languages},
        summary=[*(f"  {language}: {', '.join(found)}" for language, found in samples.items()),
                 f"test{run.marker}: {nats:.4f} nats per character ({len(test)} names)"])


def name_classifier(network, chars):
    """The trained classifier with its tokenizer inside: names (strings [batch]) -> probabilities [batch, languages].
    What `model.keras` holds; a name mostly in characters no training name had is refused."""
    name = keras.Input(shape=(), dtype="string", name="name")
    ids = CharacterIds([*MARKERS[2:], *chars], refuse_unknown_script=True, name="characters")(name)
    return keras.Model(name, keras.layers.Softmax(name="probabilities")(network(ids)), name="classify_names")


def name_scorer(network, chars, languages):
    """The trained generator with its tokenizers inside, as it was trained (teacher forcing): `language` and `name`
    (strings [batch]) -> logits [batch, characters + 1, vocabulary] for each next character of the name, [END] last.
    What `model.keras` holds: it scores names for a language, or fine-tunes on more of them."""
    language = keras.Input(shape=(), dtype="string", name="language")
    name = keras.Input(shape=(), dtype="string", name="name")
    vector = keras.layers.StringLookup(vocabulary=languages, num_oov_indices=0, output_mode="one_hot",
                                       name="language_one_hot")(language)
    previous = CharacterIds([*MARKERS[2:], *chars], start=MARKERS[START], name="characters")(name)
    return keras.Model({"language": language, "name": name}, network({"vector": vector, "previous_tokens": previous}),
                       name="names")


def nats_per_character(scorer, names, languages, batch_size=256):
    """Mean cross-entropy of each next character, [END] included, under teacher forcing, over every character of
    `names` (strings, with their `languages`), by `name_scorer`'s model; a character it never saw reads as [UNK],
    as in training. The recipe's test figure, and `evaluate`'s on an export."""
    characters = scorer.get_layer("characters")
    total, count = 0.0, 0
    for start in range(0, len(names), batch_size):
        batch_names = tf.constant(names[start:start + batch_size])
        logits = scorer({"language": tf.constant(languages[start:start + batch_size]), "name": batch_names},
                        training=False)
        ids = tf.cast(characters(batch_names), tf.int32)  # [START], the name's characters, 0 after
        steps = tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1)  # [START] + characters: one target each
        following = tf.pad(ids[:, 1:], [[0, 0], [0, 1]])  # each position's next character ...
        positions = tf.range(tf.shape(following)[1])[None, :]
        targets = tf.where(positions == (steps - 1)[:, None], END, following)  # ... and [END] after the last
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
        counted = positions < steps[:, None]
        total += float(tf.reduce_sum(tf.where(counted, losses, 0.0)))
        count += int(tf.reduce_sum(tf.cast(counted, tf.int32)))
    return total / max(count, 1)


def _prepare(cfg, run):
    names = load_names(cfg)
    train, validation, test = split(names, cfg.seed, cfg.validation_fraction, cfg.test_fraction)
    chars = sorted({c for i in train for c in names.names[i]})
    languages = sorted(set(names.languages))
    plural = "s" if len(languages) > 1 else ""
    run.data(names.source, f"{len(train)} train / {len(validation)} validation / {len(test)} test names, "
                           f"{len(languages)} language{plural}, {len(chars)} characters", offline=names.offline)
    return names, (train, validation, test), chars, languages


def _fit(cfg, run, build, train_data, validation_data):
    """Build (`build()`) and compile the model under the run's strategy and train it on (inputs, targets) arrays.
    Returns the trained model (a plain one-device copy after distributed training; None on other workers)."""
    with run.scope():
        model = build()
        model.compile(optimizer=zoo.FusedAdam(cfg.learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")], jit_compile=cfg.xla)
    train_ds = tf.data.Dataset.from_tensor_slices(train_data).shuffle(  # (inputs, targets[, sample weights])
        len(train_data[1]), seed=cfg.seed, reshuffle_each_iteration=True).batch(cfg.batch_size)
    val_ds = tf.data.Dataset.from_tensor_slices(validation_data).batch(cfg.batch_size)
    return run.fit(model, finish_pipeline(train_ds, autotune=cfg.autotune),
                   validation_data=finish_pipeline(val_ds, autotune=cfg.autotune),
                   samples_per_epoch=len(train_data[1]))


def _export(folder, extras, model, tracked, endpoint, signature):
    """A SavedModel with `endpoint` as serving_default (string inputs), the Keras model and `extras` beside it."""
    archive = keras.export.ExportArchive()
    for item in [model, *tracked]:
        archive.track(item)
    add_endpoint_traced_once(archive, "serving_default", endpoint, signature)
    archive.write_out(str(folder), verbose=False)
    extra = Path(folder) / "assets.extra"
    extra.mkdir(exist_ok=True)
    model.save(extra / "model.keras")
    write_extras(extra, extras)
