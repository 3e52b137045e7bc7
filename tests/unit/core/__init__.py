"""Unit tests of ``ohws_jupyter.core``."""
