"""Unit tier: socket-free and thread-free tests of the core and the engine's pure parts."""
