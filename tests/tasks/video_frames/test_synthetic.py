"""The moving-digits generator: deterministic, and its labels agree with where the digit really is in the frames."""

import numpy as np
import pytest

from tasks.video_frames.synthetic import FRAME_CLASSES, _move, direction_label, generate_clips


@pytest.fixture(scope="module")
def clips():
    return generate_clips(40, seed=7, size=32, min_frames=16, max_frames=24)


def test_same_seed_same_clips_other_seed_other_clips(clips):
    again = generate_clips(40, seed=7, size=32, min_frames=16, max_frames=24)
    for a, b in zip(clips, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(clips[0], generate_clips(40, seed=8, size=32, min_frames=16, max_frames=24)[0])


@pytest.mark.parametrize("dy,dx,name", [(-1, -3, "up-left"), (-3, 1, "up-right"), (1, -1, "down-left"),
                                        (3, 3, "down-right")])
def test_direction_names(dy, dx, name):
    assert FRAME_CLASSES[direction_label(dy, dx)] == name


@pytest.mark.parametrize("position,velocity,expected", [
    (5, 3, (8, 3)),  # free move
    (15, 3, (14, -3)),  # 18 is past the wall at 16: reflected back to 14, now moving the other way
    (1, -3, (2, 3)),  # -2 reflects to 2
    (16, 1, (15, -1)),
])
def test_bounce_reflects_and_never_stands_still(position, velocity, expected):
    assert _move(position, velocity, 16) == expected
    assert expected[0] != position  # odd speeds: the net move is never zero


def test_labels_match_the_digits_visible_motion(clips):
    """Find the digit in each frame (its bright pixels; the noise stays below 40) and compare its motion with the
    labels: frame t's label is the move from t-1 to t, frame 0's is its first move."""
    frames, labels, lengths, clip_labels = clips
    for clip, label, length, clip_label in zip(frames, labels, lengths, clip_labels):
        bright = clip[:length].max(-1) > 100
        rows = [np.argwhere(b)[:, 0].min() for b in bright]  # top edge of the digit: moves with it exactly
        cols = [np.argwhere(b)[:, 1].min() for b in bright]
        for t in range(length):
            a, b = (t - 1, t) if t else (0, 1)
            assert label[t] == direction_label(rows[b] - rows[a], cols[b] - cols[a])
        assert (label[length:] == 0).all()
        counts = np.bincount(label[:length], minlength=4)
        assert counts[clip_label] == counts.max()


def test_real_frames_are_never_all_zero_and_padding_is(clips):
    frames, _, lengths, _ = clips
    for clip, length in zip(frames, lengths):
        assert clip[:length].reshape(length, -1).max(1).min() > 0
        assert not clip[length:].any()
    assert 16 <= lengths.min() and lengths.max() <= 24
