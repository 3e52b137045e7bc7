"""``ohws_jupyter.cli``: serve, demo and lite as real processes."""
