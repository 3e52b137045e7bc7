"""``ohws_jupyter.server`` with real clients."""
