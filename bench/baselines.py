"""Baseline ASGI apps the benchmarks compare mockrouter against, same payloads.

- ``raw_app``: raw ASGI, a fixed ~600-byte chat completion JSON, or a 20-chunk SSE stream
  written with one ``send`` per chunk.
- ``starlette_app``: a bare Starlette route returning the same JSON with ``Response``, or the
  same stream with ``StreamingResponse``.

Run one with uvicorn: ``python -m bench.baselines raw|starlette PORT``.
"""

from __future__ import annotations

import sys

import orjson

COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-0123456789abcdef01234567",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "openai/gpt-4o-mini",
        "provider": "OpenAI",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello to the benchmark! " * 14},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 31, "completion_tokens": 84, "total_tokens": 115, "cost": 0.0000551},
    }
)
_CHUNK = (
    b'data: {"id":"chatcmpl-0123456789abcdef01234567","object":"chat.completion.chunk","created":1767225600,'
    b'"model":"openai/gpt-4o-mini","choices":[{"index":0,"delta":{"content":" hello"},"finish_reason":null}]}\n\n'
)
CHUNKS = [_CHUNK] * 20 + [b"data: [DONE]\n\n"]


async def _drain(receive) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def raw_app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = await _drain(receive)
    if b'"stream":true' in body:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for chunk in CHUNKS:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(COMPLETION)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": COMPLETION})


def make_starlette_app():
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    async def chunks():
        for chunk in CHUNKS:
            yield chunk

    async def chat(request: Request) -> Response:
        body = await request.body()
        if b'"stream":true' in body:
            return StreamingResponse(chunks(), media_type="text/event-stream")
        return Response(COMPLETION, media_type="application/json")

    return Starlette(routes=[Route("/api/v1/chat/completions", chat, methods=["POST"])])


starlette_app = make_starlette_app()

if __name__ == "__main__":
    import uvicorn

    which, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(
        raw_app if which == "raw" else starlette_app,
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        ws="none",  # as mockrouter's uvicorn_config: no WebSocket library in the process
    )
