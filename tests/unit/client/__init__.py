"""Unit tests of ``ohws_jupyter.client``'s pure helpers."""
