"""The WebSocket benchmark of a baked project (bench/ws_bench.py, bench/README.md)."""
