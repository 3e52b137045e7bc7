"""Command lines: ``python -m ohws_jupyter`` (serve, demo, lite) and ``ohws-serve``."""
