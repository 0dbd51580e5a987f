"""The names recipe's commands that run an export: `classify` (a classify_names export: each name's language),
`generate` (a names export: new surnames for a language) and `evaluate` (either, on a name<TAB>language file:
accuracy for the classifier, nats per character for the generator, as the recipe's test figure is measured)."""

import json

from tasks.common.cli import UserError, texts_or_stdin
from tasks.common.export import version_folder

CLASSIFIER, GENERATOR = "classify_names", "names"


def load(path, tf, task=CLASSIFIER):
    """(version folder, its config.json, the loaded SavedModel) of a names export, either task (`task`: the one an
    error's example names)."""
    folder = version_folder(path, task)
    config_file = folder / "assets.extra" / "config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    if "languages" not in config or "characters" not in config:
        raise UserError(f"{folder} is not a names export (its assets.extra/config.json lists no languages and "
                        "characters); pass saved_models/classify_names or saved_models/names.")
    return folder, config, tf.saved_model.load(str(folder))


def task_of(loaded):
    """CLASSIFIER or GENERATOR, from what the export's serving signature takes."""
    inputs = loaded.signatures["serving_default"].structured_input_signature[1]
    return GENERATOR if "language" in inputs else CLASSIFIER


def require_task(folder, loaded, task, command):
    if task_of(loaded) != task:
        other = "classify" if task == GENERATOR else "generate"
        raise UserError(f"{folder} is a {task_of(loaded)} export; `{command}` needs a {task} export "
                        f"(python -m tasks.names --task {'generate' if task == GENERATOR else 'classify'}), or use "
                        f"`{other}` with this one.")


def require_languages(languages, known, where):
    unknown = sorted(set(languages) - set(known))
    if unknown:
        raise UserError(f"{where} names language(s) the model was not trained on: {', '.join(unknown[:5])}"
                        f"{' ...' if len(unknown) > 5 else ''}; it knows {', '.join(known)}.")


def classify(args):
    """Print `language<TAB>probability<TAB>name` for each name (arguments, or one per line on stdin)."""
    from zoo.quiet import import_tensorflow

    tf = import_tensorflow()
    from tasks.common.text import answers_in_batches

    folder, _, loaded = load(args.model, tf)
    require_task(folder, loaded, CLASSIFIER, "classify")
    names = texts_or_stdin(args.names, "name")
    signature = loaded.signatures["serving_default"]
    answers = answers_in_batches(lambda batch: signature(name=batch), names)
    for name, answer in zip(names, answers):
        print(f"{answer['language'].decode('utf-8')}\t{answer['probabilities'].max():.4f}\t{name}")
    return [(answer["language"].decode("utf-8"), float(answer["probabilities"].max())) for answer in answers]


def generate(args):
    """Print `--count` surnames for `--language`, each starting with `--prefix`."""
    from zoo.quiet import import_tensorflow

    if args.count < 1 or args.temperature < 0:  # before loading anything
        raise UserError("--count must be at least 1 and --temperature not negative.")
    tf = import_tensorflow()
    folder, config, loaded = load(args.model, tf, GENERATOR)
    require_task(folder, loaded, GENERATOR, "generate")
    require_languages([args.language], config["languages"], "--language")
    out = loaded.signatures["serving_default"](language=tf.constant([args.language] * args.count),
                                                prefix=tf.constant([args.prefix] * args.count),
                                                temperature=tf.constant([args.temperature] * args.count))
    names = [name.decode("utf-8") for name in out["name"].numpy()]
    print("\n".join(names))
    return names


def evaluate(args):
    """Score an export on a labelled file and print the metrics as JSON."""
    from zoo.quiet import import_tensorflow

    tf = import_tensorflow()
    from tasks.names.data import read_names

    names, languages = read_names(args.data, languages_needed=1)  # a bad file fails before the model loads
    folder, config, loaded = load(args.model, tf)
    require_languages(languages, config["languages"], args.data)
    if task_of(loaded) == CLASSIFIER:
        metrics = _classifier_metrics(loaded, names, languages, config["languages"])
    else:
        metrics = {"names": len(names), "nats_per_char": _nats_per_character(folder, names, languages)}
    print(json.dumps(metrics, indent=2))
    return metrics


def _classifier_metrics(loaded, names, languages, known):
    """Accuracy, balanced accuracy and each language's recall; names in a script the model never saw are left out
    and counted (`refused`), as the server would refuse them."""
    from tasks.common.reports import class_metrics
    from tasks.common.text import answers_in_batches

    signature = loaded.signatures["serving_default"]
    answers = answers_in_batches(lambda batch: signature(name=batch), names, skip_refused=True)
    kept = [i for i, answer in enumerate(answers) if answer is not None]
    if not kept:
        raise UserError("every name is written mostly in characters that no training name had; nothing to score.")
    predicted = [known.index(answers[i]["language"].decode("utf-8")) for i in kept]
    metrics = class_metrics([known.index(languages[i]) for i in kept], predicted, known)
    return {**metrics, "refused": len(names) - len(kept)}


def _nats_per_character(folder, names, languages):
    """The SavedModel's signature samples names, so this scores with `assets.extra/model.keras`: the same network
    and character ids, through the function the recipe's own test figure comes from."""
    import keras

    import tasks.layers  # noqa: F401  (registers the layers model.keras is made of)
    from tasks.names.training import nats_per_character

    return nats_per_character(keras.models.load_model(folder / "assets.extra" / "model.keras"), names, languages)
