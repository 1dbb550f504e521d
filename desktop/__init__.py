"""Hearth's desktop app (PySide6): the window, its panels, and the client of the engine process.

Nothing here imports the model libraries (torch, transformers, llama_cpp, peft, qdrant): all
work happens in the engine, reached through ``desktop.engine_client.EngineClient``.
"""
