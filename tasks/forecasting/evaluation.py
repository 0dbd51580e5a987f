"""Forecast errors in the original units, the naive baselines every forecaster must beat, and the forecast plot."""

import numpy as np

from tasks.common.reports import plt


def errors(forecast, truth):
    """MAE and RMSE over every forecast step."""
    difference = np.asarray(forecast, np.float64) - np.asarray(truth, np.float64)
    return {"mae": float(np.abs(difference).mean()), "rmse": float(np.sqrt((difference ** 2).mean()))}


def baselines(target_values, starts, horizon, season):
    """Forecasts [len(starts), horizon] of the naive methods for windows whose first target rows are `starts`:
    `last_value` repeats the last value seen; `seasonal_naive` takes the value one season before each target (when
    the series has a season and enough history). Missing values are carried forward first: a naive forecaster
    repeats the last value it knows."""
    known = np.asarray(target_values, np.float64)
    index = np.where(np.isnan(known), 0, np.arange(len(known)))
    known = known[np.maximum.accumulate(index)]  # carry forward (a leading gap stays NaN)
    out = {"last_value": np.repeat(known[starts - 1][:, None], horizon, axis=1)}
    if season and starts.min() - season >= 0:
        steps = starts[:, None] + np.arange(horizon)[None, :]
        # A target `season` or more steps ahead would need a value not yet seen: use the latest one a season back.
        out["seasonal_naive"] = known[steps - season * (1 + np.arange(horizon)[None, :] // season)]
    return out


def score(forecast, part, history, targets, horizon, season, marker=""):
    """(test metrics, summary lines): each target's MAE and RMSE in the original units, against the naive
    forecasts from its `history` [rows, targets], with the ratio of the model's MAE to each."""
    test, summary = {"windows": len(part.starts), "left_out_missing_target": part.left_out}, []
    for i, target in enumerate(targets):
        naive = baselines(history[:, i], part.starts, horizon, season)
        scores = {"model": errors(forecast[..., i], part.future[..., i]),
                  **{name: errors(values, part.future[..., i]) for name, values in naive.items()}}
        # A naive forecast that is exact (a constant series) leaves the ratio undefined: None, not a crash
        scores.update({f"mae_vs_{name}": scores["model"]["mae"] / scores[name]["mae"] if scores[name]["mae"] else None
                       for name in naive})
        test[target] = scores
        summary.append(f"test{marker}: {target}: MAE {scores['model']['mae']:.4f}  RMSE "
                       f"{scores['model']['rmse']:.4f}  ({len(part.starts)} windows)")
        summary += [f"  {name}: MAE {scores[name]['mae']:.4f}  RMSE {scores[name]['rmse']:.4f}  "
                    f"(model MAE / this: {_ratio(scores[f'mae_vs_{name}'])})" for name in naive]
    return test, summary


def _ratio(value):
    return "none, this forecast is exact" if value is None else f"{value:.3f}"


def plot_forecast(times, truth, forecast, path, title, most=365):
    shown = slice(max(0, len(truth) - most), len(truth))
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(range(len(truth))[shown], truth[shown], label="truth", linewidth=1)
    ax.plot(range(len(truth))[shown], forecast[shown], label="forecast", linewidth=1)
    ticks = list(range(shown.start, len(truth), max(1, (len(truth) - shown.start) // 6)))
    ax.set_xticks(ticks, [times[i] for i in ticks], fontsize=7)
    ax.legend()
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
