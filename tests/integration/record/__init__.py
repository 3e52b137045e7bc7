"""``ohws_jupyter.record``: transcripts, expect, replay and exports of real sessions."""
