"""Sheets for pen plotters: stroke ordering, plotter SVG, G-code (GRBL), HPGL, and saving.

Plotter output is single-line ink in real millimetres: one path per pen-down stroke, no
fills. Strokes are reordered (nearest next stroke, either way round) to cut the distance
the pen travels in the air, from the corner the machine starts in. G-code and HP-GL count
y up from the sheet's bottom-left corner, as GRBL machines and HP plotters do (with
`origin_bottom_left` off, down from its top-left); a plotter SVG is y down, as SVG is, and an
AxiDraw starts at its top-left.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from .ink import atomic_write, output_kind
from .layout import Sheet
from .render import PenStyle, render_sheet_png, svg_path

HPGL_UNITS = 40.0   # plotter units per mm (HP-GL: 0.025 mm)
FORMATS = (".svg", ".png", ".gcode", ".hpgl")
DOT = 0.2           # mm: the length of the dash that stands for a dot in an SVG
PEN_UP = {"servo": 30.0, "z": 5.0}  # each lift's pen-up value unless given: servo, Z mm


@dataclass
class PlotterConfig:
    pen: str = "servo"           # how the pen lifts: servo (M3 S<value>) or z (G0 Z<value>)
    pen_up: float | None = None  # servo value or Z height (mm) with the pen up (default: 30
    # for a servo, 5 mm for z)
    pen_down: float = 0.0        # servo value or Z height (mm) with the pen on the paper
    pen_delay: float = 0.15      # seconds to wait (G4) after the pen moves up or down
    draw_feed: float = 1500.0    # mm/min while drawing
    travel_feed: float = 3000.0  # mm/min with the pen up
    header: str = "G21\\nG90"     # G-code before the drawing (\n between lines); mm, absolute
    footer: str = "G0 X0 Y0"     # G-code after it, with the pen up
    origin_bottom_left: bool = True  # G-code/HPGL y up from the bottom-left corner, as GRBL
                                 # and HP-GL count (off: y down from the top-left)
    order: bool = True           # reorder strokes to cut pen-up travel

    def __post_init__(self) -> None:
        """Settings no machine takes are refused as the config is made, before any writing."""
        if self.pen not in ("servo", "z"):
            raise ValueError(f"--pen: expected servo or z, got {self.pen!r}")
        if not (self.draw_feed > 0 and self.travel_feed > 0 and self.pen_delay >= 0):
            raise ValueError("--draw-feed and --travel-feed must be above 0, --pen-delay at "
                             "least 0")
        if not (math.isfinite(self.raised) and math.isfinite(self.pen_down)):
            raise ValueError(f"--pen-up and --pen-down must be numbers, got {self.raised:g} "
                             f"and {self.pen_down:g}")

    @property
    def raised(self) -> float:
        """The pen-up value: as given, else this lift's (`PEN_UP`): a servo's 30 would lift a
        Z pen 30 mm."""
        return PEN_UP[self.pen] if self.pen_up is None else self.pen_up


def order_strokes(strokes: list[np.ndarray], start=(0.0, 0.0)) -> list[np.ndarray]:
    """Strokes in a greedy nearest-neighbour order from `start`, each drawn from whichever
    end is nearer: a plotter then spends less time with its pen in the air."""
    heads = np.array([s[0] for s in strokes]).reshape(-1, 2)
    tails = np.array([s[-1] for s in strokes]).reshape(-1, 2)
    left = np.ones(len(strokes), dtype=bool)
    at = np.asarray(start, dtype=np.float64)
    out = []
    for _ in range(len(strokes)):
        to_head = np.where(left, np.hypot(*(heads - at).T), np.inf)
        to_tail = np.where(left, np.hypot(*(tails - at).T), np.inf)
        i, j = int(to_head.argmin()), int(to_tail.argmin())
        stroke = strokes[i] if to_head[i] <= to_tail[j] else strokes[j][::-1]
        left[i if to_head[i] <= to_tail[j] else j] = False
        out.append(stroke)
        at = stroke[-1]
    return out


def travel(strokes: list[np.ndarray], start=(0.0, 0.0)) -> float:
    """Pen-up distance in mm from `start` through the strokes in order, and back."""
    starts = np.array([s[0] for s in strokes] + [start], dtype=np.float64)
    ends = np.array([start] + [s[-1] for s in strokes], dtype=np.float64)
    return float(np.hypot(*(starts - ends).T).sum())


def home(sheet: Sheet, cfg: PlotterConfig, kind: str) -> tuple[float, float]:
    """Where on the sheet (mm, y down) the machine drawing a file of `kind` starts and ends."""
    return (0.0, sheet.height) if kind in (".gcode", ".hpgl") and cfg.origin_bottom_left \
        else (0.0, 0.0)


def plot_order(sheet: Sheet, cfg: PlotterConfig, kind: str) -> list[np.ndarray]:
    return order_strokes(sheet.strokes, home(sheet, cfg, kind)) if cfg.order else sheet.strokes


def machine_xy(sheet: Sheet, cfg: PlotterConfig, stroke: np.ndarray) -> np.ndarray:
    return np.stack([stroke[:, 0], sheet.height - stroke[:, 1]], 1) if cfg.origin_bottom_left \
        else stroke


def to_svg(sheet: Sheet, strokes: list[np.ndarray], style: PenStyle | None = None) -> str:
    """A plotter SVG: the sheet's size in mm, one unfilled path per stroke, user unit 1 mm,
    in the pen's colour and width (which tools that sort strokes by pen read)."""
    style = style or PenStyle()
    out = ['<svg xmlns="http://www.w3.org/2000/svg" version="1.1" '
           f'width="{sheet.width:g}mm" height="{sheet.height:g}mm" '
           f'viewBox="0 0 {sheet.width:g} {sheet.height:g}">',
           f'<g fill="none" stroke={quoteattr(style.color)} stroke-width="{style.pen_width:g}" '
           'stroke-linecap="round" stroke-linejoin="round">']
    for stroke in strokes:
        if len(stroke) == 1:  # a dot: a short dash, as SVG readers drop zero-length paths
            stroke = stroke + [[0.0, 0.0], [DOT, 0.0]]
        out.append(svg_path(stroke))
    out.append("</g>\n</svg>\n")
    return "\n".join(out)


def to_gcode(sheet: Sheet, strokes: list[np.ndarray], cfg: PlotterConfig) -> str:
    """GRBL-style G-code: pen up before every travel (G0), down before drawing (G1 at
    `draw_feed`); the header and footer are the user's."""

    def pen(value: float) -> list[str]:
        if cfg.pen == "servo":
            move = f"M3 S{value:g}"
        elif value == cfg.raised:
            move = f"G0 Z{value:g}"
        else:  # lowered at the drawing feed, not a rapid, so that the pen lands gently
            move = f"G1 Z{value:g} F{cfg.draw_feed:g}"
        return [move] + ([f"G4 P{cfg.pen_delay:g}"] if cfg.pen_delay else [])

    out = cfg.header.replace("\\n", "\n").splitlines() + pen(cfg.raised)
    for stroke in strokes:
        xy = machine_xy(sheet, cfg, stroke)
        out.append(f"G0 X{xy[0, 0]:.2f} Y{xy[0, 1]:.2f} F{cfg.travel_feed:g}")
        out += pen(cfg.pen_down)
        out += [f"G1 X{x:.2f} Y{y:.2f} F{cfg.draw_feed:g}" for x, y in xy[1:]]
        out += pen(cfg.raised)
    out += cfg.footer.replace("\\n", "\n").splitlines()
    return "\n".join(out) + "\n"


def to_hpgl(sheet: Sheet, strokes: list[np.ndarray], cfg: PlotterConfig) -> str:
    """HP-GL in plotter units (40 per mm): PU to each stroke's start, PD along it."""
    out = ["IN", "SP1"]
    for stroke in strokes:
        xy = np.round(machine_xy(sheet, cfg, stroke) * HPGL_UNITS).astype(int)
        out.append(f"PU{xy[0, 0]},{xy[0, 1]}")
        out.append("PD" + ",".join(f"{x},{y}" for x, y in (xy[1:] if len(xy) > 1 else xy)))
    out += ["PU0,0", "SP0"]  # home, as G-code's footer goes
    return ";".join(out) + ";\n"


def plot_file(sheet: Sheet, strokes: list[np.ndarray], kind: str, cfg: PlotterConfig,
              style: PenStyle | None = None) -> str:
    """The text of a plotter file of `kind` (.svg, .gcode or .hpgl) drawing `strokes`, in
    the order given, on `sheet`; `style` colours an SVG's ink."""
    if kind == ".svg":
        return to_svg(sheet, strokes, style)
    return to_gcode(sheet, strokes, cfg) if kind == ".gcode" else to_hpgl(sheet, strokes, cfg)


def sheet_paths(path: str | Path, count: int) -> list[Path]:
    """`letter.svg` for one sheet; `letter-1.svg`, `letter-2.svg`, ... for more."""
    path = Path(path)
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i + 1}{path.suffix}") for i in range(count)]


def older_sheets(path: str | Path, count: int) -> list[Path]:
    """Sheets of an earlier letter saved to the same `path` that `count` sheets leave as
    they were (`letter-3.svg` when this letter has two)."""
    path = Path(path)
    numbered = [p for p in path.parent.glob(f"{glob.escape(path.stem)}-*{path.suffix}")
                if p.stem[len(path.stem) + 1:].isdigit()]
    written = set(sheet_paths(path, count))
    return sorted(p for p in [path, *numbered] if p.is_file() and p not in written)


def save_sheets(sheets: list[Sheet], path: str | Path, cfg: PlotterConfig | None = None,
                style: PenStyle | None = None, travel_color: str | None = None
                ) -> list[tuple[Path, float, float]]:
    """Write each sheet to a file of the kind `path`'s extension names (numbered when more
    than one), atomically; `style` is the ink of a .png or .svg, `travel_color` draws a .png's
    pen-up moves. Returns, per file, its path and the pen-up travel in mm before and after
    ordering, from the machine's start and back."""
    cfg = cfg or PlotterConfig()
    kind = check_paper_format(path)
    if travel_color and kind != ".png":
        raise ValueError(f"{path}: pen-up travel is drawn on a .png only")
    out = []
    for sheet, target in zip(sheets, sheet_paths(path, len(sheets)), strict=True):
        strokes, start = plot_order(sheet, cfg, kind), home(sheet, cfg, kind)
        if kind == ".png":
            render_sheet_png(sheet.width, sheet.height, strokes, target, style, travel_color)
        else:
            text = plot_file(sheet, strokes, kind, cfg, style)
            atomic_write(target, lambda f, text=text: f.write(text.encode("ascii")))
        out.append((target, travel(sheet.strokes, start), travel(strokes, start)))
    return out


def check_paper_format(path: str | Path) -> str:
    """The kind of file `save_sheets` writes to `path`, or an error said before the work."""
    return output_kind(path, FORMATS, "a page")
