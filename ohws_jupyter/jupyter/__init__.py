"""The Jupyter layer: the live panels (anywidget, front end in ``static/``) and
the ``%ws`` magics. Thin layers over the public API; nothing below imports them.
"""
