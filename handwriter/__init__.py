"""handwriter: learns to write like a person (Graves 2013, arXiv 1308.0850)."""

from . import _openmp  # noqa: F401  (first: it must run before torch loads)
from .ink import Ink, InkError, read_ink
from .layout import PageConfig, Sheet
from .plotter import PlotterConfig, save_sheets
from .render import save_inks
from .sample import SampleConfig, Writer, generate
from .unprompted import sample_lines
from .writing import write, write_pages

__all__ = ["Ink", "InkError", "PageConfig", "PlotterConfig", "SampleConfig", "Sheet", "Writer",
           "generate", "read_ink", "sample_lines", "save_inks", "save_sheets", "write",
           "write_pages"]
__version__ = "0.1.0"
