"""Unit tests of ``ohws_jupyter.engine``'s sans-I/O parts."""
