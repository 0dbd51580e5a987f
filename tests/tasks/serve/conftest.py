"""Freshly exported tiny models and a real server process on a free loopback port."""

import contextlib

import httpx
import pytest

import zoo
from tasks.forecasting.__main__ import main as forecasting
from tasks.generation.__main__ import main as generation
from tasks.serve.launch import serving
from tests.tasks.sentiment.conftest import run_recipe as run_sentiment
from tests.tasks.translation.conftest import run_recipe as run_translation
from tests.tasks.video_frames.conftest import run_recipe as run_video


@pytest.fixture(scope="session")
def model_base(tmp_path_factory):
    """saved_models-style folder: every recipe's export (sentiment: strings in, two outputs; translation: strings
    in and out, three signatures; video_frames: uint8 or float frames in; generation: a string and two scalars per
    row; forecasting: the cells of the last rows as text), a zoo tagger (floats in) and a raw zoo seq2seq model
    (two int inputs)."""
    work = tmp_path_factory.mktemp("serve")
    run_sentiment(work, "--dataset", "offline", "--epochs", "1")
    run_translation(work, "--dataset", "offline", "--epochs", "1")
    run_video(work, "--epochs", "1")
    for recipe, flags in ((generation, ["--dataset", "generated", "--units", "8", "--num-layers", "1", "--bptt", "20",
                                        "--batch-size", "16", "--samples", "5"]),
                          (forecasting, ["--dataset", "generated", "--units", "8", "--lookback", "10"])):
        recipe(["--run-dir", str(work / "run"), "--export-dir", str(work / "exports"), "--epochs", "1", *flags])
    base = work / "exports"
    zoo.build("many_to_many", input="features", feature_dim=3, num_outputs=4, units=4).export(
        str(base / "tagger" / "1"), verbose=False)
    zoo.build("seq2seq", input="tokens", vocab_size=20, target_vocab_size=12, units=4).export(
        str(base / "translator" / "1"), verbose=False)
    return base


@contextlib.contextmanager
def running_server(*flags):
    """The real server (`python -m tasks.serve`) on a free loopback port, as an httpx client."""
    with serving(*flags) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client
