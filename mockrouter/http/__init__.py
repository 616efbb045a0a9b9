"""The HTTP app: routing, request contexts, the answer pipeline of the engine routes
(``chat``), the other router endpoints (``router_api``), the admin API (``admin``), the
OpenAPI document (``openapi``) and running it all under uvicorn (``server``).
"""
