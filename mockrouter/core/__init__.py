"""The foundation every layer stands on: settings (``config``), the shipped data
(``resources``, ``catalog``, ``schemas``), the answer model the engine hands to the wire
(``reply``), and small helpers (``tokens``, ``ids``). Nothing here imports another layer.
"""
