"""Unit tests of ``ohws_jupyter.cli``'s parts that need no network."""
