"""Record and replay: what the recording proxy saw, turned into scenarios that replay it.

- :class:`Exchange` — one request and the upstream's answer, byte for byte, with times.
- :func:`transcribe` — an exchange as a scenario step (content, reasoning, tool calls, the
  stream's chunking, usage, errors with their headers, faults, timing).
- :class:`Cassette` — scenario files on disk, one per conversation, each turn matched by its
  conversation hash (``core.conversation``).
"""
