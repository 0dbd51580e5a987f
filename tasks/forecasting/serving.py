"""What the model learns (changes from a reference value), and the SavedModel: the raw text of the last rows in,
forecasts in the original units out, with the recipe's whole preparation in the graph."""

import re
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import zoo
from tasks.common.export import add_endpoint_traced_once, write_extras
from tasks.forecasting.preparation import Preparation


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


@keras.saving.register_keras_serializable(package="forecasting")
class PrepareRows(keras.layers.Layer):
    """{input name: text [batch, lookback]} -> prepared features [batch, lookback, features]: `Preparation` as a
    layer, so a `.keras` file carries it (its statistics and vocabularies are the layer's config)."""

    def __init__(self, preparation, names, **kwargs):
        super().__init__(**kwargs)
        self.preparation = preparation if isinstance(preparation, Preparation) else Preparation.from_json(preparation)
        self.names = dict(names)  # column -> input name

    def call(self, raw):
        return self.preparation.features(self.preparation.parse({c: raw[n] for c, n in self.names.items()}))

    def get_config(self):
        return {**super().get_config(), "preparation": self.preparation.to_json(), "names": self.names}


@keras.saving.register_keras_serializable(package="forecasting")
class ValuesFromChanges(keras.layers.Layer):
    """(the network's changes, the prepared window) -> forecasts [batch, horizon, targets] in the original units:
    each step's reference value plus its change (`forecast_from_changes`), unscaled."""

    def __init__(self, targets, mean, std, per_step, season, **kwargs):
        super().__init__(**kwargs)
        self.targets, self.per_step, self.season = int(targets), bool(per_step), int(season)
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]

    def call(self, changes, features):
        return forecast_from_changes(changes, features, self.targets, self.per_step, self.season) * self.std \
            + self.mean

    def get_config(self):
        return {**super().get_config(), "targets": self.targets, "mean": self.mean, "std": self.std,
                "per_step": self.per_step, "season": self.season}


def forecaster(network, preparation, *, lookback, targets, per_step, season):
    """The trained network with the whole preparation inside: {input name: text [batch, lookback]} -> {output name:
    forecast [batch, horizon]} per target, in its original units. What `model.keras` holds and the export serves."""
    names, outputs = signature_names(preparation.raw), signature_names(targets)
    raw = {name: keras.Input(shape=(lookback,), dtype="string", name=name) for name in names.values()}
    features = PrepareRows(preparation, names, name="prepare_rows")(raw)
    count = len(targets)
    values = ValuesFromChanges(count, preparation.mean[:count], preparation.std[:count], per_step, season,
                               name="values_from_changes")(network(features), features)
    return keras.Model(raw, {outputs[t]: values[..., i] for i, t in enumerate(targets)}, name="forecaster")


def write_export(directory, model, preparation, *, lookback, targets, per_step, season, extras):
    """`serving_default`: one string input [batch, lookback] per raw column (the CSV's cells as written: numbers,
    missing values such as "NA" or "", category names, the time) -> one output per target [batch, horizon] in its
    original units. The same model with its preparation (`model.keras`, `forecaster`) and `extras` go to
    `assets.extra/`."""
    end_to_end = forecaster(model, preparation, lookback=lookback, targets=targets, per_step=per_step, season=season)
    archive = keras.export.ExportArchive()
    archive.track(end_to_end)
    for lookup in preparation.lookups.values():
        archive.track(lookup)
    spec = {name: tf.TensorSpec([None, lookback], tf.string, name=name)
            for name in signature_names(preparation.raw).values()}
    # LSTMs on the fused kernel, GRUs on the zoo's loop: one 30-step window 2.1x faster (bench/gru_serving.py)
    served = zoo.fuse_recurrent(end_to_end)
    add_endpoint_traced_once(archive, "serving_default", lambda raw: served(raw, training=False), [spec])
    archive.write_out(str(directory), verbose=False)
    extra = Path(directory) / "assets.extra"
    extra.mkdir()
    end_to_end.save(extra / "model.keras")
    write_extras(extra, {**extras, "preparation.json": {**preparation.to_json(),
                                                        "inputs": signature_names(preparation.raw),
                                                        "outputs": signature_names(targets)}})
