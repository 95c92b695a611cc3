"""handwriter: learns to write like a person (Graves 2013, arXiv 1308.0850)."""

from .ink import Ink, InkError, read_ink
from .sample import SampleConfig, Writer, generate, sample_lines, write

__all__ = ["Ink", "InkError", "SampleConfig", "Writer", "generate", "read_ink", "sample_lines",
           "write"]
__version__ = "0.1.0"
