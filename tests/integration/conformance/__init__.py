"""Conformance: Autobahn's cases and a third-party peer (Node.js ``ws``)."""
