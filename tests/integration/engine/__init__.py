"""``ohws_jupyter.engine`` end to end (the page's in-memory network)."""
