"""The inference service gives freed heap memory back after a retired model is released:
tagloop.heap.trim_heap, shared with image decoding (see that module)."""

from tagloop.heap import trim_heap

__all__ = ["trim_heap"]
