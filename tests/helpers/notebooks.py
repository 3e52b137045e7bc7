"""Notebooks as files hold them, for the tests of what reads them."""

from __future__ import annotations

from ohws_jupyter.cli.lite import BROWSER_MARK

__all__ = ["ran_notebook"]


def ran_notebook() -> dict:
    """A notebook as JupyterLab saves it after a run: outputs, counts, widget state."""
    ran = {
        "cell_type": "code",
        "metadata": {},
        "source": "print('hi')",
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi\n"}],
        "execution_count": 7,
    }
    browser = {
        **ran,
        "source": "x = 1",
        "metadata": {"ohws_jupyter": {"browser": f"{BROWSER_MARK}: why\nx = 2"}},
        "execution_count": 8,
    }
    words = {"cell_type": "markdown", "metadata": {}, "source": "# Title"}
    widgets = {"application/vnd.jupyter.widget-state+json": {"state": {"a": {}}}}
    return {
        "cells": [ran, browser, words],
        "metadata": {"widgets": widgets},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
