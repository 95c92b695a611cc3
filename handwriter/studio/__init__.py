"""The studio: a page in the browser to write with the models, live, and to teach them a hand.

    handwriter serve --open

The server lives in `handwriter.studio.app` (Starlette); this module holds only its
config, so the command line can build its flags without loading the web stack.
"""

from dataclasses import dataclass


@dataclass
class StudioConfig:
    host: str = "127.0.0.1"      # address to bind; loopback keeps the studio to this machine
    port: int = 8000             # TCP port
    max_text: int = 600          # characters of text a page may hold
    max_active: int = 4          # generations at once; later ones queue
    max_waiting: int = 64        # queued generations beyond which requests get a 503
    max_body: int = 2_000_000    # bytes a request body may hold
    max_ink: int = 60_000        # points of ink a download or reading may hold

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be between 1 and 65535, got {self.port}")
