"""The start-up noise filter on stderr, and the way past it for a server's per-request log."""

import os
import sys

from zoo.quiet import filtered_stderr, unfiltered_stderr


def test_the_filter_drops_noise_lines_and_the_unfiltered_stream_goes_straight_to_stderr(capfd):
    assert unfiltered_stderr() is sys.stderr  # no filter on: nothing to go past
    with filtered_stderr(["NOISE"]):
        os.write(2, b"NOISE from C++\nkept from C++\n")
        direct = unfiltered_stderr()
        direct.write("log line, NOISE or not\n")  # not through the pipe: the filter never sees it
        direct.flush()
    direct.write("still open after the filter\n")
    direct.close()
    err = capfd.readouterr().err
    assert "NOISE from C++" not in err
    assert "kept from C++" in err
    assert "log line, NOISE or not" in err and "still open after the filter" in err
