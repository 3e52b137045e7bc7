"""Unit tests of ``ohws_jupyter.jupyter``'s pure parts (no kernel, no widget)."""
