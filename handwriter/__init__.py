"""handwriter: learns to write like a person (Graves 2013, arXiv 1308.0850)."""

from . import _openmp  # noqa: F401  (first: it must run before torch loads)
from .adapt import add_style
from .ink import Ink, InkError, read_ink
from .layout import PageConfig, Sheet
from .plotter import PlotterConfig, save_sheets
from .reader import InkReader
from .render import ink_to_svg, save_inks
from .sample import SampleConfig, Writer, generate
from .unprompted import sample_lines
from .writing import write, write_pages

__all__ = ["Ink", "InkError", "InkReader", "PageConfig", "PlotterConfig", "SampleConfig", "Sheet",
           "Writer", "add_style", "generate", "ink_to_svg", "read_ink", "sample_lines",
           "save_inks", "save_sheets", "write", "write_pages"]
__version__ = "0.1.0"
