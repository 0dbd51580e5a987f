"""Freshly exported tiny models and a real server process on a free loopback port."""

import contextlib

import httpx
import pytest

import zoo
from tasks.serve.launch import serving
from tests.tasks.sentiment.conftest import run_recipe as run_sentiment
from tests.tasks.translation.conftest import run_recipe as run_translation
from tests.tasks.video_frames.conftest import run_recipe as run_video


@pytest.fixture(scope="session")
def model_base(tmp_path_factory):
    """saved_models-style folder: every recipe's export (sentiment: strings in, two outputs; translation: strings
    in and out, three signatures; video_frames: uint8 or float frames in), a zoo tagger (floats in) and a raw zoo
    seq2seq model (two int inputs)."""
    work = tmp_path_factory.mktemp("serve")
    run_sentiment(work, "--dataset", "offline", "--epochs", "1")
    run_translation(work, "--dataset", "offline", "--epochs", "1")
    run_video(work, "--epochs", "1")
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
