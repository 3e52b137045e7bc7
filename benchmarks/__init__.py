"""Benchmarks of ohws_jupyter against the stacks users would otherwise pick.

Run ``python -m benchmarks`` (add ``--quick`` for a seconds-long smoke run).
Every measurement runs in a fresh child process, and every server runs in a
process of its own, so no two sides share a GIL; see ``run.py`` for the list.
"""
