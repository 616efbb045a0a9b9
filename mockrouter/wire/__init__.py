"""The wire: from a :class:`~mockrouter.core.reply.Reply` to bytes on the socket.

``dialects`` encode replies and errors per router (one encoder per surface × dialect),
``sse`` writes a stream with its scripted timing and faults, ``asgi`` holds the raw ASGI
primitives, and ``coalesce`` makes each response one socket write. The wire knows nothing
of scenarios: it is handed a rendered reply.
"""
