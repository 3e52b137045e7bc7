"""The one build step the declarative settings in pyproject.toml cannot say.

The lesson notebooks live in ``notebooks/`` at the top of the repository, where
people open them; an installed package needs them too (``python -m ohws_jupyter
demo`` and ``lite``). So the build copies them, and the folders beside them
(the lessons' certificates), into the package as ``ohws_jupyter/notebooks/``,
outputs stripped. Nothing is copied in the repository itself: an editable
install and a checkout read ``notebooks/`` in place.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path("notebooks")
SKIP = shutil.ignore_patterns(".*", "__pycache__", "*.pyc")


def clean_notebook(src: Path, dest: Path) -> None:
    """Copy a notebook without outputs: what ships is what the lesson starts from."""
    nb = json.loads(src.read_text("utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", "utf-8")


class BuildWithNotebooks(build_py):
    """``build_py``, then the notebooks into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False) or not SOURCE.is_dir():
            return  # editable: the package finds notebooks/ in the checkout
        dest = Path(self.build_lib) / "ohws_jupyter" / "notebooks"
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for item in sorted(SOURCE.iterdir()):
            if item.name.startswith("."):
                continue
            if item.is_dir():
                shutil.copytree(item, dest / item.name, ignore=SKIP)
            elif item.suffix == ".ipynb":
                clean_notebook(item, dest / item.name)


setup(cmdclass={"build_py": BuildWithNotebooks})
