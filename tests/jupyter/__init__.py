"""Jupyter tier: kernels, magics, panels, notebooks, the README, the command line, browsers."""
