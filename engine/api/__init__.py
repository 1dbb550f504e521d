"""The local OpenAI-compatible HTTP API: ``/v1/models``, ``/v1/chat/completions`` (SSE streaming
and not), ``/v1/completions`` and ``/v1/embeddings`` on 127.0.0.1 only, behind a bearer token.

- ``settings``: the persisted token and port (regenerate the token to lock old clients out)
- ``openai_shapes``: OpenAI request checks and response/chunk/error shapes (the HTTP API's, not
  the engine's JSON-RPC protocol)
- ``completions``: raw-prompt completion (no chat template) on the chat runtimes
- ``embeddings``: sentence-transformers embedding models from the library (MiniLM by default)
- ``server``: the ``ThreadingHTTPServer`` and its request handler
- ``methods``: ``api.start`` / ``api.stop`` / ``api.status`` / ``api.regenerate_token`` over RPC

Generation goes through the same ``engine.chat.generate`` as the Chat panel, and shares its warm
models when the API runs inside the engine process (the GUI's toggle).
"""
