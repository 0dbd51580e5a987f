"""Texts from the command line or standard input, as the recipes' predict commands read them."""

import io
import sys

import pytest

from tasks.common.cli import UserError, texts_or_stdin


def test_arguments_come_first_and_stdin_lines_lose_their_line_ends(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("good\r\nbad\n\nlast"))
    assert texts_or_stdin(["given"]) == ["given"]
    assert texts_or_stdin([]) == ["good", "bad", "", "last"]


def test_bytes_that_are_not_utf8_are_one_error_naming_the_text(monkeypatch):
    # POSIX locale: Python hands undecodable bytes over as lone surrogates (surrogateescape)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"good\n\xff\xfe bad\n"), "utf-8",
                                                       errors="surrogateescape"))
    with pytest.raises(UserError, match="name 2 is not UTF-8 text"):
        texts_or_stdin([], "name")
    # UTF-8 locale: reading the line fails
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"good\n\xff\xfe bad\n"), "utf-8"))
    with pytest.raises(UserError, match="standard input is not UTF-8 text"):
        texts_or_stdin([])
    with pytest.raises(UserError, match="text 1 is not UTF-8 text"):  # an argument, as sys.argv holds such bytes
        texts_or_stdin([b"\xff ok".decode("utf-8", "surrogateescape")])
