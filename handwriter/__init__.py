"""handwriter: learns to write like a person (Graves 2013, arXiv 1308.0850)."""

from .ink import Ink, InkError

__all__ = ["Ink", "InkError"]
__version__ = "0.1.0"
