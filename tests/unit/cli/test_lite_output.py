"""``lite --output``: a rebuild replaces only what the builder wrote, never ``.git``.

The site is a real folder of files staged as the build stages it; the full
JupyterLite build runs in tests/jupyter/cli/test_lite.py.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from ohws_jupyter.cli import lite
from ohws_jupyter.cli.lite_output import MANIFEST, OutputError, place_site
from ohws_jupyter.cli.main import main


def _stage(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


SITE_1 = {"index.html": "v1", "lab/index.html": "lab v1", "static/old.js": "old"}
SITE_2 = {"index.html": "v2", "lab/index.html": "lab v2", "static/new.js": "new"}


@pytest.fixture
def publishing(tmp_path: pathlib.Path) -> pathlib.Path:
    """A git checkout that publishes the site, with the user's own files."""
    return _stage(
        tmp_path / "out",
        {
            "CNAME": "ws.example.org",
            "notes/todo.md": "mine",
            ".git/HEAD": "ref: refs/heads/gh-pages\n",
            ".git/config": "[core]\n",
            ".git/index.html": "a name the site also has, inside .git",
        },
    )


def _git_state(out: pathlib.Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted((out / ".git").rglob("*"))
        if p.is_file()
    }


def test_a_build_into_a_checkout_keeps_the_users_files_and_lists_its_own(
    tmp_path: pathlib.Path, publishing: pathlib.Path
) -> None:
    git = _git_state(publishing)
    written = place_site(_stage(tmp_path / "s1", SITE_1), publishing)
    assert written == sorted(SITE_1)
    manifest = json.loads((publishing / MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(SITE_1)
    assert (publishing / "CNAME").read_text() == "ws.example.org"
    assert (publishing / "notes/todo.md").read_text() == "mine"
    assert _git_state(publishing) == git


def test_a_rebuild_replaces_and_deletes_only_what_the_last_build_wrote(
    tmp_path: pathlib.Path, publishing: pathlib.Path
) -> None:
    place_site(_stage(tmp_path / "s1", SITE_1), publishing)
    git = _git_state(publishing)
    (publishing / "static/mine.css").write_text("user file in a site folder")
    place_site(_stage(tmp_path / "s2", SITE_2), publishing)
    assert (publishing / "index.html").read_text() == "v2"
    assert (publishing / "lab/index.html").read_text() == "lab v2"
    assert not (publishing / "static/old.js").exists()  # ours, and gone from the new site
    assert (publishing / "static/new.js").read_text() == "new"
    assert (publishing / "static/mine.css").read_text() == "user file in a site folder"
    assert (publishing / "CNAME").read_text() == "ws.example.org"
    assert _git_state(publishing) == git
    assert sorted(json.loads((publishing / MANIFEST).read_text())["files"]) == sorted(SITE_2)


def test_a_folder_the_old_site_had_and_the_new_one_has_not_goes(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    place_site(_stage(tmp_path / "s1", {"a/b/c.txt": "1", "x": "1"}), out)
    place_site(_stage(tmp_path / "s2", {"x": "2"}), out)
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, "x"])


def test_a_file_the_builder_did_not_write_is_never_overwritten(
    tmp_path: pathlib.Path, publishing: pathlib.Path
) -> None:
    (publishing / "index.html").write_text("the user's own page")
    with pytest.raises(OutputError, match=r"index\.html \(not written by this builder\)") as err:
        place_site(_stage(tmp_path / "s1", SITE_1), publishing)
    assert "--force" in str(err.value)
    # Refused before anything was written.
    assert (publishing / "index.html").read_text() == "the user's own page"
    assert not (publishing / "lab").exists() and not (publishing / MANIFEST).exists()


def test_a_built_file_the_user_changed_is_neither_overwritten_nor_deleted(
    tmp_path: pathlib.Path,
) -> None:
    out = tmp_path / "out"
    place_site(_stage(tmp_path / "s1", SITE_1), out)
    (out / "static/old.js").write_text("edited by hand")
    with pytest.raises(OutputError, match=r"static/old\.js \(changed since it was built"):
        place_site(_stage(tmp_path / "s2", SITE_2), out)
    assert (out / "static/old.js").read_text() == "edited by hand"
    assert (out / "index.html").read_text() == "v1"


def test_force_overwrites_what_is_in_the_way_but_never_git(
    tmp_path: pathlib.Path, publishing: pathlib.Path
) -> None:
    (publishing / "index.html").write_text("the user's own page")
    git = _git_state(publishing)
    staged = _stage(tmp_path / "s1", {**SITE_1, ".git/HEAD": "ref: refs/heads/evil"})
    place_site(staged, publishing, force=True)
    assert (publishing / "index.html").read_text() == "v1"
    assert _git_state(publishing) == git


def test_an_output_inside_git_or_that_is_a_file_is_refused(tmp_path: pathlib.Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        place_site(_stage(tmp_path / "s", SITE_1), tmp_path / "file", force=True)
    with pytest.raises(OutputError, match=r"inside a \.git folder"):
        place_site(_stage(tmp_path / "s", SITE_1), tmp_path / "repo/.git/site", force=True)


def test_links_in_the_output_are_never_followed(tmp_path: pathlib.Path) -> None:
    elsewhere = _stage(tmp_path / "elsewhere", {"index.html": "not the site's"})
    out = tmp_path / "out"
    out.mkdir()
    (out / "lab").symlink_to(elsewhere, target_is_directory=True)
    (out / MANIFEST).symlink_to(elsewhere / "index.html")
    with pytest.raises(OutputError):
        place_site(_stage(tmp_path / "s1", SITE_1), out)
    place_site(_stage(tmp_path / "s1", SITE_1), out, force=True)
    assert (elsewhere / "index.html").read_text() == "not the site's"
    assert not (out / "lab").is_symlink() and (out / "lab/index.html").read_text() == "lab v1"
    assert not (out / MANIFEST).is_symlink()


def test_an_unreadable_manifest_is_refused_before_the_build(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("jupyterlite_pyodide_kernel")
    out = _stage(tmp_path / "out", {MANIFEST: "built by an older version\n", "a": "1"})
    with pytest.raises(lite.LiteError, match="not a manifest this builder can read"):
        lite.build(out, cache=tmp_path / "cache")
    assert (out / "a").read_text() == "1"


def test_the_command_refuses_with_a_clear_message_and_exit_status_1(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("jupyterlite_pyodide_kernel")
    out = _stage(tmp_path / "out", {MANIFEST: "[]", "notes.txt": "mine"})
    assert main(["lite", "--output", str(out), "--cache", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--force" in err
    assert (out / "notes.txt").read_text() == "mine"


def test_a_git_file_is_never_touched_even_when_a_manifest_lists_it(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    place_site(_stage(tmp_path / "s1", SITE_1), out)
    (out / ".git").write_text("gitdir: ../repo/.git/worktrees/site\n")  # a worktree
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"][".git"] = "0" * 64  # an edited manifest claims it
    (out / MANIFEST).write_text(json.dumps(manifest))
    place_site(_stage(tmp_path / "s2", SITE_2), out, force=True)
    assert (out / ".git").read_text() == "gitdir: ../repo/.git/worktrees/site\n"
