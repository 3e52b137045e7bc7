"""The demo's working copy: the lessons copied in, a file the user changed never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohws_jupyter.cli.notebooks import (
    MANIFEST,
    QUICKSTART,
    copy_notebooks,
    find_notebooks,
)
from tests.helpers import ROOT


def _lessons(folder: Path) -> Path:
    (folder / "certs").mkdir(parents=True)
    (folder / QUICKSTART).write_text('{"cells": []}')
    (folder / "02-magics.ipynb").write_text('{"cells": [1]}')
    (folder / "certs" / "ca.pem").write_text("CA")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "x.ipynb").write_text("scratch")
    return folder


def test_the_checkout_notebooks_are_found_when_nothing_is_installed_beside_the_package() -> None:
    assert find_notebooks() == (ROOT / "notebooks").resolve()


def test_a_folder_without_the_quickstart_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="pass --notebooks a folder of the lesson notebooks"):
        find_notebooks(tmp_path)


def test_the_first_copy_takes_the_lessons_and_their_folders(tmp_path: Path) -> None:
    source = _lessons(tmp_path / "src")
    report = copy_notebooks(source, tmp_path / "work")
    assert sorted(report.copied) == ["01-quickstart.ipynb", "02-magics.ipynb", "certs/ca.pem"]
    assert (tmp_path / "work" / "certs" / "ca.pem").read_text() == "CA"
    assert not (tmp_path / "work" / ".ipynb_checkpoints").exists()
    assert (tmp_path / "work" / MANIFEST).is_file()


def test_a_changed_file_is_kept_and_said_so_an_untouched_one_is_updated(tmp_path: Path) -> None:
    source = _lessons(tmp_path / "src")
    work = tmp_path / "work"
    copy_notebooks(source, work)
    (work / QUICKSTART).write_text('{"cells": ["mine"]}')  # the user's work
    (source / QUICKSTART).write_text('{"cells": ["new lesson"]}')  # a newer package
    (source / "02-magics.ipynb").write_text('{"cells": ["new magics"]}')
    report = copy_notebooks(source, work)
    assert (work / QUICKSTART).read_text() == '{"cells": ["mine"]}'
    assert (work / "02-magics.ipynb").read_text() == '{"cells": ["new magics"]}'
    assert report.kept == [QUICKSTART] and report.updated == ["02-magics.ipynb"]
    text = "\n".join(report.lines())
    assert f"kept your {QUICKSTART}" in text and "was not replaced" in text
    # Still the user's on the next run, though the manifest was rewritten meanwhile.
    assert copy_notebooks(source, work).kept == [QUICKSTART]


def test_a_file_that_was_there_before_the_first_copy_is_the_users(tmp_path: Path) -> None:
    source = _lessons(tmp_path / "src")
    work = tmp_path / "work"
    work.mkdir()
    (work / QUICKSTART).write_text("my own notebook of that name")
    report = copy_notebooks(source, work)
    assert report.kept == [QUICKSTART]
    assert (work / QUICKSTART).read_text() == "my own notebook of that name"


def test_the_demo_never_runs_on_the_folder_it_copies_from(tmp_path: Path) -> None:
    source = _lessons(tmp_path / "src")
    for target in (source, source / "inside"):
        with pytest.raises(SystemExit, match="the demo runs on a copy"):
            copy_notebooks(source, target)
