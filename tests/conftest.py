import os

import pytest

# Quiet TensorFlow's start-up logs in test output; set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True, scope="session")
def no_network():
    """Tests never download: every dataset host is unreachable, through the recipes' one network check."""
    from tasks.common import downloads

    patch = pytest.MonkeyPatch()
    patch.setattr(downloads, "network_reachable", lambda host, timeout=3.0: False)
    yield
    patch.undo()
