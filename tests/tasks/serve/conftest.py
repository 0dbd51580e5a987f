"""Freshly exported tiny models and a real server process on a free loopback port."""

import contextlib
import shutil

import httpx
import pytest

import zoo
from tasks.forecasting.__main__ import main as forecasting
from tasks.serve.launch import serving


@pytest.fixture(scope="session")
def model_base(tmp_path_factory, sentiment_run, translation_run, video_frames_run, generation_run):
    """saved_models-style folder: every recipe's export (sentiment: strings in, two outputs; translation: strings
    in and out, three signatures; video_frames: uint8 or float frames in; generation: a string and two scalars per
    row; forecasting: the cells of the last rows as text), a zoo tagger (floats in) and a raw zoo seq2seq model
    (two int inputs). The recipes' exports are copies of the shared tiny runs' (tests/tasks/conftest.py): tests
    here add versions to this folder, never to theirs."""
    work = tmp_path_factory.mktemp("serve")
    for name, (_, metrics) in (("sentiment", sentiment_run), ("translation", translation_run),
                               ("video_frames", video_frames_run), ("generation", generation_run)):
        shutil.copytree(metrics["export"], work / "exports" / name / "1")
    forecasting(["--run-dir", str(work / "run"), "--export-dir", str(work / "exports"), "--epochs", "1",
                 "--dataset", "generated", "--units", "8", "--lookback", "10"])
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
