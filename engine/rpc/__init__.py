"""JSON-RPC 2.0 over stdio: framing, the method registry and the dispatcher (see docs/PROTOCOL.md)."""
