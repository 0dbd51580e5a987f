"""Class weights that make every class count the same, and the per-class report every classifier recipe prints."""

import numpy as np
import pytest

from tasks.common.reports import binary_metrics, class_metrics, recall_line
from tasks.common.training import balanced_sample_weights, class_weights


def test_balanced_weights_give_every_class_the_same_total():
    labels = np.array([0] * 8 + [1] * 2 + [2] * 2)
    weights = balanced_sample_weights(labels, classes=4)  # class 3 is absent: it takes no share
    totals = [weights[labels == k].sum() for k in range(3)]
    np.testing.assert_allclose(totals, [4, 4, 4])
    np.testing.assert_allclose(weights.sum(), len(labels))
    np.testing.assert_allclose(balanced_sample_weights(np.array([0, 1, 0, 1]), 2), 1)  # balanced: no change


def test_per_frame_weights_skip_padding():
    labels = np.array([[0, 0, 1, 0], [1, 1, 0, 0]])
    real = np.array([[True, True, True, False], [True, True, False, False]])
    weights = balanced_sample_weights(labels, 2, real)
    assert (weights[~real] == 0).all()
    np.testing.assert_allclose([weights[real & (labels == k)].sum() for k in (0, 1)], [2.5, 2.5])


def test_class_weights_follow_the_flag(capsys):
    parts = {"train": np.array([0, 0, 0, 1]), "validation": np.array([0, 1])}
    assert class_weights("none", parts, 2, unit="review") is None
    weights = class_weights("balanced", parts, 2, unit="review")
    np.testing.assert_allclose(weights["train"], [2 / 3, 2 / 3, 2 / 3, 2])
    np.testing.assert_allclose(weights["validation"], [1, 1])
    assert "class weights: balanced, 0.67 to 2.00 per review" in capsys.readouterr().out


def test_class_metrics_report_what_accuracy_hides():
    labels = np.array([0] * 9 + [1])
    always_zero = class_metrics(labels, np.zeros(10, int), ["common", "rare"])
    assert always_zero["accuracy"] == pytest.approx(0.9) and always_zero["balanced_accuracy"] == pytest.approx(0.5)
    assert always_zero["recall_by_class"] == {"common": 1.0, "rare": 0.0}
    assert always_zero["confusion_matrix"] == [[9, 0], [1, 0]]
    assert recall_line(always_zero) == "  recall by class: rare 0.00, common 1.00"
    binary = binary_metrics([0, 1, 1, 1], [0.2, 0.9, 0.4, 0.8])
    assert binary["balanced_accuracy"] == pytest.approx((1 + 2 / 3) / 2) and binary["recall"] == pytest.approx(2 / 3)
    assert binary["confusion_matrix"] == [[1, 0], [1, 2]]
