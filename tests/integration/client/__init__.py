"""``ohws_jupyter.client`` against real servers."""
