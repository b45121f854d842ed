"""The WebSocket benchmark (`uv run python bench/ws_bench.py`) and the ASGI app it serves."""
