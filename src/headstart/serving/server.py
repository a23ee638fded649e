"""uvicorn's server, told about the batcher: on SIGTERM or SIGINT the batcher stops waiting for
requests to batch with, so what is queued runs at once; uvicorn, which has stopped accepting
connections, waits for those answers before it stops."""

from __future__ import annotations

from types import FrameType

import uvicorn

from headstart.serving.batcher import MicroBatcher


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, batcher: MicroBatcher):
        super().__init__(config)
        self.batcher = batcher

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.batcher.drain()
        super().handle_exit(sig, frame)
