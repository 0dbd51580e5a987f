"""Freshly exported tiny models and a real server process on a free loopback port."""

import contextlib

import httpx
import pytest

import zoo
from tasks.serve.launch import serving
from tests.tasks.sentiment.conftest import run_recipe


@pytest.fixture(scope="session")
def model_base(tmp_path_factory):
    """saved_models-style folder: the sentiment recipe's export (strings in, two outputs), a per-step tagger
    (floats in) and a seq2seq model (two int inputs)."""
    work = tmp_path_factory.mktemp("serve")
    run_recipe(work, "--dataset", "offline", "--epochs", "1")
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
