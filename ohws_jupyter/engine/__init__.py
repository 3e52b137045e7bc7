"""The connection engine: the I/O thread and callback lanes, promises, timers,
and ``Connection``, which drives websockets' sans-I/O protocol over a transport.

Imports ``core`` and ``websockets``; knows nothing of the OHOS objects built on it.
"""
