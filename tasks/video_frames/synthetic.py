"""The built-in video set: a real handwritten digit (scikit-learn's bundled `digits`) moving and bouncing in a frame.

How one clip is made (all from one seeded `numpy` generator, so a (count, seed) pair always gives the same clips):
- a random digit image (8x8, upscaled to half the frame's side from 32 pixels up) in a random bright colour, on a
  `size` x `size` RGB frame whose background is fresh noise in every frame (values 0-40, so no real frame is ever
  all zeros, which means padding);
- a random start position and a velocity of 1 or 3 pixels per frame on each axis, in any of the four diagonal
  directions; at a wall it bounces (reflects), and with probability `turn_probability` per frame it turns to a new
  random velocity;
- a random length from `min_frames` to `max_frames`.

Labels that a single frame cannot tell, but a sequence can:
- per frame: the direction the digit moved to reach this frame (`up-left`, `up-right`, `down-left`, `down-right`),
  from its net displacement since the previous frame. Odd speeds make that displacement never zero on either axis,
  even across a bounce. Frame 0 has no previous frame: its label is the direction of its first move, which only a
  model that looks ahead (bidirectional) can know; a left-to-right model can only guess there.
- per clip: the direction it moved in most often over the clip (ties go to the direction seen first), which needs
  the whole clip.
"""

from pathlib import Path

import numpy as np

FRAME_CLASSES = ("up-left", "up-right", "down-left", "down-right")
CLIP_CLASSES = FRAME_CLASSES  # the clip's main direction
NAME = "offline-generated (moving handwritten digits, built-in)"
SPEEDS = (-3, -1, 1, 3)


def _digit_images(scale):
    from sklearn.datasets import load_digits

    images = load_digits().images / 16.0  # [1797, 8, 8] in [0, 1]
    return np.kron(images, np.ones((1, scale, scale)))  # [1797, 8 * scale, 8 * scale]


def direction_label(dy, dx):
    """Class index of a move: up/down from the row change, left/right from the column change."""
    return (2 if dy > 0 else 0) + (1 if dx > 0 else 0)


def _move(position, velocity, limit):
    """One step with reflection at 0 and `limit`; returns (position, velocity)."""
    new = position + velocity
    if new < 0 or new > limit:
        return (-new if new < 0 else 2 * limit - new), -velocity
    return new, velocity


def generate_clips(count, *, seed, size=32, min_frames=16, max_frames=32, turn_probability=0.1):
    """`count` clips, zero-padded to `max_frames`.

    Returns (clips uint8 [count, max_frames, size, size, 3], frame_labels int32 [count, max_frames] (0 after the
    end), lengths int32 [count], clip_labels int32 [count]).
    """
    rng = np.random.default_rng(seed)
    if size < 12:
        raise ValueError(f"size={size} is too small: the digit (8 pixels or more) needs room to move.")
    digits = _digit_images(max(1, size // 16))  # half the frame's side from 32 pixels up
    side = digits.shape[1]
    limit = size - side
    clips = np.zeros((count, max_frames, size, size, 3), np.uint8)
    frame_labels = np.zeros((count, max_frames), np.int32)
    lengths = rng.integers(min_frames, max_frames + 1, size=count).astype(np.int32)
    clip_labels = np.zeros(count, np.int32)
    for i in range(count):
        sprite = digits[rng.integers(len(digits))][..., None] * rng.uniform(140, 255, size=3)
        y, x = (int(v) for v in rng.integers(0, limit + 1, size=2))
        vy, vx = (int(v) for v in rng.choice(SPEEDS, size=2))
        path = [(y, x)]
        for _ in range(lengths[i] - 1):
            if rng.random() < turn_probability:
                vy, vx = (int(v) for v in rng.choice(SPEEDS, size=2))
            (y, vy), (x, vx) = _move(y, vy, limit), _move(x, vx, limit)
            path.append((y, x))
        for t, (y, x) in enumerate(path):
            frame = rng.uniform(0, 40, size=(size, size, 3))
            frame[y:y + side, x:x + side] = np.maximum(frame[y:y + side, x:x + side], sprite)
            clips[i, t] = frame.astype(np.uint8)
            (py, px), (ny, nx) = (path[t - 1], path[t]) if t else (path[0], path[1])
            frame_labels[i, t] = direction_label(ny - py, nx - px)
        counts = np.bincount(frame_labels[i, :lengths[i]], minlength=len(FRAME_CLASSES))
        tied = np.flatnonzero(counts == counts.max())
        clip_labels[i] = next(c for c in frame_labels[i, :lengths[i]] if c in tied)
    return clips, frame_labels, lengths, clip_labels


def write_video_folder(folder, count, *, per_frame=True, size=16):
    """Real GIF files of `count` generated clips and their labels.csv (a label per frame, or one per clip), as a
    user would bring them to `--data`. Returns (folder, the clips' frames: an object array of uint8 arrays)."""
    import imageio.v3 as iio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clips, labels, lengths, clip_labels = generate_clips(count, seed=11, size=size, min_frames=6, max_frames=10)
    rows = ["file,frame,label" if per_frame else "file,label"]
    for i, (clip, label, length) in enumerate(zip(clips, labels, lengths)):
        name = f"clip{i}.gif"
        iio.imwrite(folder / name, clip[:length], extension=".gif", loop=0)
        if per_frame:
            rows += [f"{name},{t},{FRAME_CLASSES[label[t]]}" for t in range(length)]
        else:
            rows.append(f"{name},{FRAME_CLASSES[clip_labels[i]]}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder, np.array([c[:n] for c, n in zip(clips, lengths)], dtype=object)
