"""One tiny run of each recipe, shared by every test that only reads its outputs (the recipe's own tests and the
server's), so each trains once per worker instead of once per module. The modules that use them are marked
SHARES_TRAINED_RUNS, one xdist group, which keeps them on one worker: a session fixture is per worker process."""

import pytest

from tests.tasks.generation.conftest import run_recipe as run_generation
from tests.tasks.sentiment.conftest import run_recipe as run_sentiment
from tests.tasks.translation.conftest import run_recipe as run_translation
from tests.tasks.video_frames.conftest import run_recipe as run_video

# `pytestmark = SHARES_TRAINED_RUNS` in every module that uses the runs below, so each run trains once.
SHARES_TRAINED_RUNS = pytest.mark.xdist_group("trained_recipes")


def _trained(tmp_path_factory, name, run, *flags):
    tmp_path = tmp_path_factory.mktemp(name)
    return tmp_path, run(tmp_path, *flags)


@pytest.fixture(scope="session")
def sentiment_run(tmp_path_factory):
    """(its folder, its metrics) of a tiny run on the offline stand-in reviews."""
    return _trained(tmp_path_factory, "sentiment", run_sentiment, "--dataset", "offline")


@pytest.fixture(scope="session")
def translation_run(tmp_path_factory):
    """(its folder, its metrics) of a tiny run on the offline set (the default when offline)."""
    return _trained(tmp_path_factory, "translation", run_translation)


@pytest.fixture(scope="session")
def video_frames_run(tmp_path_factory):
    """(its folder, its metrics) of a tiny run on generated clips."""
    return _trained(tmp_path_factory, "video", run_video)


@pytest.fixture(scope="session")
def generation_run(tmp_path_factory):
    """(its folder, its metrics) of a tiny run on generated text."""
    return _trained(tmp_path_factory, "generation", run_generation)
