"""The two names tasks of the generation recipe: `--task classify-names` (many-to-one: a surname's language) and
`--task names` (one-to-many: new surnames for a language). Both: config -> data -> model -> fit -> evaluate -> export.
"""

import dataclasses
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
from tasks.common.export import atomic_export, library_versions, write_extras, write_json_atomic
from tasks.common.reports import plot_confusion, plot_history
from tasks.common.training import history_summary, train_model
from tasks.generation.names import MARKERS, NameGenerator, char_ids, load_names, split


def _prepare(cfg):
    names = load_names(cfg)
    train, validation, test = split(names, cfg.seed)
    chars = sorted({c for i in train for c in names.names[i]})
    languages = sorted(set(names.languages))
    print(f"data: {names.source}: {len(train)} train / {len(validation)} validation / {len(test)} test names, "
          f"{len(languages)} languages, {len(chars)} characters{' [GENERATED]' if names.offline else ''}")
    return names, (train, validation, test), chars, languages


def _fit(cfg, placement, build, run_dir, train_data, validation_data):
    """Build (`build()`) and compile the model under the placement's strategy and train it on (inputs, targets)
    arrays. Returns (model, history, seconds); the model is a plain one-device copy after distributed training."""
    with placement.scope():
        model = build()
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")], jit_compile=cfg.xla)
    train_ds = tf.data.Dataset.from_tensor_slices(train_data).shuffle(
        len(train_data[1]), seed=cfg.seed, reshuffle_each_iteration=True).batch(cfg.batch_size)
    val_ds = tf.data.Dataset.from_tensor_slices(validation_data).batch(cfg.batch_size)
    started = time.perf_counter()
    history = train_model(model, placement, train_ds, validation_data=val_ds, epochs=cfg.epochs, run_dir=run_dir,
                          patience=cfg.patience, samples_per_epoch=len(train_data[1]))
    return placement.local_copy(model), history, time.perf_counter() - started


def _finish(cfg, run_dir, name, metrics, history, write):
    """metrics.json, the training curves, and the atomic export `<export_dir>/<name>/<version>/`."""
    metrics["history"] = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    write_json_atomic(run_dir / "metrics.json", metrics)
    plot_history(history.history, run_dir / "training_curves.png", f"{name}: {metrics['data']}")
    extras = {"config.json": dataclasses.asdict(cfg), "metrics.json": metrics, "versions.json": library_versions(),
              **{p.name: p for p in run_dir.glob("*.png")}}

    def write_all(tmp):
        write(tmp)
        extra = Path(tmp) / "assets.extra"
        extra.mkdir(exist_ok=True)
        write_extras(extra, extras)

    export = atomic_export(Path(cfg.export_dir) / name, write_all)
    print(f"exported: {export}")
    return {**metrics, "export": str(export)}


def train_classifier(cfg, placement, run_dir):
    """A surname's language: characters -> (Bi)RNN -> softmax over the languages."""
    names, (train, validation, test), chars, languages = _prepare(cfg)
    ids = char_ids(names.names, chars, markers=False)
    labels = np.array([languages.index(x) for x in names.languages], np.int32)
    model, history, wall = _fit(cfg, placement, lambda: zoo.build(
        "many_to_one", input="tokens", vocab_size=len(chars) + len(MARKERS), cell=cfg.cell, units=cfg.units,
        num_layers=cfg.layers, bidirectional=True, dropout=cfg.dropout, embedding_dim=cfg.embedding_dim,
        num_outputs=len(languages)), run_dir, (ids[train], labels[train]), (ids[validation], labels[validation]))
    if not placement.is_chief:  # the chief evaluates, writes the metrics and exports
        return placement.worker_summary(history)
    predicted = np.argmax(model.predict(ids[test], verbose=0), axis=-1)
    recall = [float(np.mean(predicted[labels[test] == k] == k)) for k in range(len(languages))
              if np.any(labels[test] == k)]
    confusion = tf.math.confusion_matrix(labels[test], predicted, num_classes=len(languages)).numpy().tolist()
    test_metrics = {"names": int(len(test)), "accuracy": float(np.mean(predicted == labels[test])),
                    "balanced_accuracy": float(np.mean(recall)), "confusion_matrix": confusion}
    plot_confusion(confusion, languages, run_dir / "confusion_matrix.png", "test names")
    print(f"test: accuracy {test_metrics['accuracy']:.4f}, balanced accuracy (mean recall over languages) "
          f"{test_metrics['balanced_accuracy']:.4f} ({len(test)} names); {wall:.0f} s training")
    lookup = keras.layers.StringLookup(vocabulary=chars, mask_token="", num_oov_indices=1)
    words = tf.constant(languages)

    def classify(name):
        found = tf.cast(lookup(tf.strings.unicode_split(name, "UTF-8")), tf.int32).to_tensor()
        found = tf.pad(found, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(found)[1])]])  # an empty name: one pad step
        probabilities = tf.nn.softmax(model(found, training=False), axis=-1)
        return {"probabilities": probabilities, "language": tf.gather(words, tf.argmax(probabilities, axis=-1))}

    classify(tf.constant(["Smith"]))  # builds the lookup layer, as tracking it for export requires

    def write(tmp):
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.track(lookup)
        archive.add_endpoint("serving_default", classify, input_signature=[tf.TensorSpec([None], tf.string,
                                                                                          name="name")])
        archive.write_out(str(tmp), verbose=False)
        (Path(tmp) / "assets.extra").mkdir()
        model.save(Path(tmp) / "assets.extra" / "model.keras")

    metrics = {"task": "classify-names", "data": names.source, "offline_data": names.offline, "languages": languages,
               "test": test_metrics, "training": {**history_summary(history), "wall_seconds": wall}}
    return _finish(cfg, run_dir, "classify_names", metrics, history, write)


def train_name_generator(cfg, placement, run_dir):
    """New surnames for a language: the language (one-hot) sets the state of a character decoder (teacher forcing)."""
    names, (train, validation, test), chars, languages = _prepare(cfg)
    ids = char_ids(names.names, chars, markers=True)
    vectors = np.eye(len(languages), dtype=np.float32)[[languages.index(x) for x in names.languages]]

    def inputs(index):
        return {"vector": vectors[index], "previous_tokens": ids[index, :-1]}

    model, history, wall = _fit(cfg, placement, lambda: zoo.build(
        "one_to_many", input="features", feature_dim=len(languages), decoder="autoregressive", cell=cfg.cell,
        units=cfg.units, num_layers=cfg.layers, dropout=cfg.dropout, target_embedding_dim=cfg.embedding_dim,
        num_outputs=len(chars) + len(MARKERS)), run_dir, (inputs(train), ids[train, 1:]),
        (inputs(validation), ids[validation, 1:]))
    if not placement.is_chief:  # the chief evaluates, writes the metrics and exports
        return placement.worker_summary(history)
    nats = float(model.evaluate(inputs(test), ids[test, 1:], verbose=0, return_dict=True)["loss"])
    generator = NameGenerator(model, chars, languages)
    generate = tf.function(generator.generate)
    samples = {}
    for language in languages:
        out = generate(tf.constant([language] * 4), tf.constant(["", "", "", ""]),
                       tf.constant([0.0, 0.8, 0.8, 0.8]))
        samples[language] = [n.decode("utf-8") for n in out["name"].numpy()]
        print(f"  {language}: {', '.join(samples[language])}")
    print(f"test: {nats:.4f} nats per character ({len(test)} names); {wall:.0f} s training")

    def write(tmp):
        archive = keras.export.ExportArchive()
        for tracked in (model, generator.models["encode"], generator.models["decode_step"], generator.lookup,
                        generator.language_lookup):
            archive.track(tracked)
        archive.add_endpoint("serving_default", generator.generate, input_signature=[
            tf.TensorSpec([None], tf.string, name="language"), tf.TensorSpec([None], tf.string, name="prefix"),
            tf.TensorSpec([None], tf.float32, name="temperature")])
        archive.write_out(str(tmp), verbose=False)
        (Path(tmp) / "assets.extra").mkdir()
        model.save(Path(tmp) / "assets.extra" / "model.keras")

    metrics = {"task": "names", "data": names.source, "offline_data": names.offline, "languages": languages,
               "test": {"names": int(len(test)), "nats_per_char": nats}, "samples": samples,
               "training": {**history_summary(history), "wall_seconds": wall}}
    return _finish(cfg, run_dir, "names", metrics, history, write)
