"""Integration tier: the package against real peers on 127.0.0.1."""
