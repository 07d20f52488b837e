"""The data directory's modes (issue 13, case 12): folders 0750 and files 0640 whatever
the umask; what exists keeps its mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdr_rating.permissions import make_directories
from cdr_rating.store import RunLock, write_bytes


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_written_files_and_new_folders_are_private(tmp_path: Path) -> None:
    write_bytes(tmp_path / "var" / "a" / "b" / "file.bin", b"x")
    with RunLock(tmp_path / "var"):
        pass
    assert mode(tmp_path / "var") == 0o750
    assert mode(tmp_path / "var" / "a" / "b") == 0o750
    assert mode(tmp_path / "var" / "a" / "b" / "file.bin") == 0o640
    assert mode(tmp_path / "var" / "run.lock") == 0o640


def test_existing_folders_keep_their_mode(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine").chmod(0o700)
    make_directories(tmp_path / "mine" / "new")
    assert mode(tmp_path / "mine") == 0o700
    assert mode(tmp_path / "mine" / "new") == 0o750


def test_a_file_in_the_way_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(NotADirectoryError):
        make_directories(tmp_path / "afile")
    with pytest.raises(NotADirectoryError):
        make_directories(tmp_path / "afile" / "below")
