"""Reports: computed once into a dict from a result, rendered as HTML, Markdown or JSON.

The top of the library's layers (only the commands sit above it): it reads results of the
models, segments and features below and never changes them.
"""
