"""Settings of the inference service (TAGLOOP_* environment variables, or .env)."""

from pydantic import Field
from tagloop.settings import MIB, CommonSettings


class Settings(CommonSettings):
    intra_op_threads: int = 2
    """ONNX Runtime threads per forward pass; 2 = every core of the reference machine."""

    ort_spinning: bool = False
    """Let ORT's threads spin between passes; off, so idle threads leave the CPU to decoding."""

    runners: int = 2
    """Forward passes that may run at the same time (threads sharing one ORT session)."""

    max_batch_size: int = 4
    """Dynamic batcher: most images gathered from concurrent /predict calls into one pass
    (past ~4 the cost per image grows on a 2-core CPU, and so does ORT's memory arena)."""

    max_wait_ms: float = 4.0
    """Dynamic batcher: longest wait for requests still being decoded (never with none)."""

    idle_trim_s: float = 2.0
    """After a forward pass, seconds without another before freed memory goes back to the
    system (malloc_trim: a few ms, never while requests come)."""

    decode_threads: int = 2
    """/batch_predict: images decoded at the same time (Pillow releases the GIL)."""

    batch_chunk_size: int = 4
    """/batch_predict runs one forward pass per chunk of this many images."""

    max_batch_files: int = 50
    """Most files in one /batch_predict request; more is refused with 413."""

    # max_image_pixels and max_decode_bytes are CommonSettings: training decodes under the same.

    decode_memory_bytes: int = 256 * MIB
    """All decodes at once: a request waits while the others' decoded pixels exceed this."""

    tile_size: int = Field(default=0, ge=0)
    """Sliced inference (tagloop.tiling): a photo larger than this many pixels a side also
    has its detector run on overlapping tiles of this side, each class keeping its highest
    score; 0 = off. One forward pass more per tile (about 12 for a 2560 x 1600 photo at 640)."""

    reload_poll_s: float = 1.0
    """How often the `active` pointer is read: the fallback when Redis pub/sub is away."""

    retired_wait_s: float = 30.0
    """Before loading a third version, how long to wait for requests on the retired one."""
