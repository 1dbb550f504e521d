"""Chat: prompts from messages, generation, and stored conversations.

- ``generate``: ``generate(services, model_id=, messages=, params=, on_delta=, cancelled=)``, the
  one code path of every chat completion (RPC, CLI, the local API)
- ``params``: ``ChatParams`` (sampling, template, JSON mode) with help text per field
- ``templates``: model templates in a Jinja sandbox, named templates, the plain fallback
- ``context``: fitting a conversation into the context window (oldest turns dropped first)
- ``schema``: JSON Schema checks for JSON mode
- ``store`` / ``conversations``: conversations as message trees; send, regenerate, edit; replies
  grounded in the conversation's document collections, with citations
  (``engine.documents.answer``)
- ``export``: Markdown and JSON export
- ``methods``: the ``chat.*`` JSON-RPC methods
"""
