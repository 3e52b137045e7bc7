"""The plain-Python core: errors and codes, events, options and their checks, profiles.

No sockets, no threads of its own, no Jupyter: everything else builds on it.
Imports only the standard library and itself.
"""
