"""What the model learns (changes from a reference value), and the SavedModel: the raw text of the last rows in,
forecasts in the original units out, with the recipe's whole preparation in the graph."""

import re
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tasks.common.export import write_extras


def reference_positions(lookback, horizon, season=0):
    """Where in a window each forecast step's reference value is: the last value seen (season 0), or the value one
    season before the step (needs lookback >= season >= horizon)."""
    if not season:
        return [lookback - 1] * horizon
    return [lookback - season + k for k in range(horizon)]


def change_targets(windows, targets, per_step, season=0):
    """What the model learns: the change of the next `horizon` target values from a reference value in the window,
    not the values themselves, so a level outside the training range (a trend) does not throw it off and the naive
    forecast is its starting point. The reference is the last value seen, or (`season`) the value one season before
    each step. windows [n, lookback, features] scaled, the targets' own past its first features; targets
    [n, horizon, count] scaled.

    Many-to-one: [n, horizon * count]. Many-to-many (per_step, last-value reference only): every step i of a window
    predicts the changes of the `horizon` values that follow it from its own value -> [n, lookback, horizon * count];
    the last step's are the forecast.
    """
    n, lookback = windows.shape[:2]
    horizon, count = targets.shape[1:]
    past = windows[:, :, :count]
    if not per_step:
        return (targets - past[:, reference_positions(lookback, horizon, season)]).reshape(n, -1)
    path = np.concatenate([past, targets], axis=1)  # [n, lookback + horizon, count]
    return np.stack([(path[:, i + 1:i + 1 + horizon] - path[:, i:i + 1]).reshape(n, -1) for i in range(lookback)],
                    axis=1)


def forecast_from_changes(outputs, windows, count, per_step, season=0):
    """Scaled forecasts [n, horizon, count]: each step's reference value plus its predicted change (numpy or
    tensors)."""
    changes = outputs[:, -1] if per_step else outputs
    horizon = changes.shape[-1] // count
    changes = ops.reshape(changes, (-1, horizon, count))
    return changes + ops.take(windows[:, :, :count], reference_positions(windows.shape[1], horizon, season), axis=1)


def signature_names(columns):
    """{column: a name TF Serving accepts for it}: letters, digits and '_', starting with a letter, all distinct."""
    names = {}
    for column in columns:
        name = re.sub(r"[^A-Za-z0-9_]", "_", column)
        name = name if name[:1].isalpha() else f"c_{name}"
        while name in names.values():
            name += "_"
        names[column] = name
    return names


def write_export(directory, model, preparation, *, lookback, targets, per_step, season, extras):
    """`serving_default`: one string input [batch, lookback] per raw column (the CSV's cells as written: numbers,
    missing values such as "NA" or "", category names, the time) -> one output per target [batch, horizon] in its
    original units. The trained model on prepared features (`model.keras`) and `extras` go to `assets.extra/`."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    for lookup in preparation.lookups.values():
        archive.track(lookup)
    inputs = signature_names(preparation.raw)
    outputs = signature_names(targets)

    def forecast(raw):
        features = preparation.features(preparation.parse({column: raw[name] for column, name in inputs.items()}))
        scaled = forecast_from_changes(model(features, training=False), features, len(targets), per_step, season)
        values = preparation.unscale(scaled, list(range(len(targets))))
        return {outputs[t]: values[..., i] for i, t in enumerate(targets)}

    spec = {name: tf.TensorSpec([None, lookback], tf.string, name=name) for name in inputs.values()}
    archive.add_endpoint("serving_default", forecast, input_signature=[spec])
    archive.write_out(str(directory), verbose=False)
    extra = Path(directory) / "assets.extra"
    extra.mkdir()
    model.save(extra / "model.keras")
    write_extras(extra, {**extras, "preparation.json": {**preparation.to_json(), "inputs": inputs,
                                                        "outputs": outputs}})
