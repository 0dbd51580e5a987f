"""Normalization that travels with the model, and the SavedModel: raw windows in, forecasts in original units out."""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tasks.common.export import write_extras


@dataclasses.dataclass
class Normalizer:
    """Per-column mean and standard deviation of the training part; the target column's undo the scaling."""

    mean: np.ndarray  # [features]
    std: np.ndarray  # [features]
    target: int

    @classmethod
    def fit(cls, train_values, target):
        std = train_values.std(0)
        return cls(train_values.mean(0).astype(np.float32), np.where(std > 0, std, 1).astype(np.float32), target)

    def scale(self, values):
        return (values - self.mean) / self.std

    def unscale_target(self, values):
        return values * self.std[self.target] + self.mean[self.target]


def reference_positions(lookback, horizon, season=0):
    """Where in a window each forecast step's reference value is: the last value seen (season 0), or the value one
    season before the step (needs lookback >= season >= horizon)."""
    if not season:
        return [lookback - 1] * horizon
    return [lookback - season + k for k in range(horizon)]


def change_targets(windows, targets, target, per_step, season=0):
    """What the model learns: the change of the next `horizon` target values from a reference value in the window,
    not the values themselves, so a level outside the training range (a trend) does not throw it off and the naive
    forecast is its starting point. The reference is the last value seen, or (`season`) the value one season before
    each step. windows [n, lookback, features] and targets [n, horizon], scaled.

    Many-to-one: [n, horizon]. Many-to-many (per_step, last-value reference only): every step i of a window predicts
    the changes of the `horizon` values that follow it from its own value -> [n, lookback, horizon]; the last step's
    are the forecast.
    """
    lookback, horizon = windows.shape[1], targets.shape[1]
    if not per_step:
        return targets - windows[:, reference_positions(lookback, horizon, season), target]
    path = np.concatenate([windows[:, :, target], targets], axis=1)  # [n, lookback + horizon]
    return np.stack([path[:, i + 1:i + 1 + horizon] - path[:, i:i + 1] for i in range(lookback)], axis=1)


def forecast_from_changes(outputs, scaled_windows, target, per_step, season=0):
    """Scaled forecasts [n, horizon]: each step's reference value plus its predicted change (numpy or tensors)."""
    changes = outputs[:, -1] if per_step else outputs
    positions = reference_positions(scaled_windows.shape[1], changes.shape[-1], season)
    return changes + ops.take(scaled_windows[:, :, target], positions, axis=1)


def write_export(directory, model, normalizer, *, lookback, features, per_step, season, extras):
    """`serving_default`: `window` float32 [batch, lookback, features] of raw values -> `forecast` [batch, horizon]
    in the target column's units. `extras` and the trained model (`model.keras`) go to `assets.extra/`."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    mean, std = tf.constant(normalizer.mean), tf.constant(normalizer.std)

    def forecast(window):
        scaled = (window - mean) / std
        out = model(scaled, training=False)
        changes = forecast_from_changes(out, scaled, normalizer.target, per_step, season)
        return {"forecast": normalizer.unscale_target(changes)}

    archive.add_endpoint("serving_default", forecast,
                         input_signature=[tf.TensorSpec([None, lookback, features], tf.float32, name="window")])
    archive.write_out(str(directory), verbose=False)
    extra = Path(directory) / "assets.extra"
    extra.mkdir()
    model.save(extra / "model.keras")
    write_extras(extra, {**extras, "normalization.json": {"mean": normalizer.mean.tolist(),
                                                          "std": normalizer.std.tolist(),
                                                          "target": normalizer.target}})
