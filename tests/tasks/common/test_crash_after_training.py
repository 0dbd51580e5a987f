"""A run that finished training but died before its export (a crash in evaluation, a full disk, Ctrl-C) keeps the
trained weights: the same command again evaluates and exports them without training anew."""

import json

import numpy as np
import pytest

import tasks.common.run
from tasks.forecasting.__main__ import main

FLAGS = ["--dataset", "generated", "--epochs", "2", "--units", "8", "--lookback", "7", "--batch-size", "128"]


def test_the_same_command_after_a_crash_in_export_exports_the_trained_weights(tmp_path, monkeypatch, capsys):
    argv = ["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *FLAGS]
    real_export = tasks.common.run.atomic_export

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tasks.common.run, "atomic_export", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        main(argv)
    trained = tmp_path / "run" / "trained"
    assert (trained / "weights.npz").exists() and not (tmp_path / "exports").exists()
    first = json.loads((trained / "history.json").read_text())["history"]
    capsys.readouterr()

    monkeypatch.setattr(tasks.common.run, "atomic_export", real_export)
    metrics = main(argv)
    out = capsys.readouterr().out
    assert "training finished in an earlier run that stopped before its export" in out
    assert "Epoch 1/" not in out  # no training this time
    assert metrics["history"] == first and metrics["training"]["epochs_run"] == len(first["loss"])
    assert (tmp_path / "exports" / "forecasting" / "1" / "saved_model.pb").exists()
    assert not trained.exists()  # exported: the next run trains anew

    again = main(argv)
    assert "Epoch 1/" in capsys.readouterr().out
    assert np.isfinite(again["history"]["loss"]).all()
