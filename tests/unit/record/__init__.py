"""Unit tests of ``ohws_jupyter.record``: formats and exported text."""
