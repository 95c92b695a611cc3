"""Strokes -> pictures: a page of lines as SVG, PNG, or an animated GIF of the pen writing it.

All three share one layout (`layout_page`): each Ink is a line, scaled by its robust height so
lines recorded in different tablet units look alike, and stacked top to bottom, y down.
Sheets of paper laid out in mm (`layout`, `plotter`) are drawn by `render_sheet_png`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image, ImageColor, ImageDraw

from .data import MODEL_UNITS
from .ink import Ink, atomic_write, output_kind, split_strokes, write_lines
from .layout import clearance, column_profile

LINE_HEIGHT = 100.0   # page units from one line to the next; 1 unit = 1 px at scale 1
STROKE_WIDTH = 2.5    # pen width, page units
MARGIN = 20.0         # blank border around the ink, page units
ROBUST_HEIGHT = 0.35  # a line's 10th-90th percentile span of y, as a fraction of line_height
GAP = 0.05            # least space between the ink of two lines, as a fraction of line_height
COLUMN = 0.1          # ... measured in columns this wide
SUPERSAMPLE = 4       # rasterise at 4x, then box-average: anti-aliasing from pixel coverage
MAX_CANVAS = 1 << 26  # supersampled pixels at most; a huge page gets less supersampling
GIF_LEVELS = 16       # shades from background to ink in a GIF palette: small files, smooth edges
FORMATS = (".svg", ".png", ".gif", ".npz", ".inkml")


@dataclass
class Page:
    """Lines placed on a page, in page units with y down; the ink lies within the margins."""

    lines: list[list[np.ndarray]]  # per line, its pen-down strokes as absolute (n, 2) points
    width: float
    height: float


def layout_page(inks: list[Ink], *, line_height: float = LINE_HEIGHT,
                margin: float = MARGIN, one_scale: bool | None = None) -> Page:
    """Line i starts at y = (i + 0.5) * line_height, left-aligned, its robust height scaled
    to ROBUST_HEIGHT * line_height: percentiles ignore the odd long descender or stray dot.
    A line whose ink would come within GAP of the line above's is moved down, with the lines
    after it.

    `one_scale` gives every line the median line's scale: right for ink in common units
    (a model's output), where a line of capitals should stay bigger than one of vowels.
    None (the default) decides by the inks: one scale when all are in the model's units.
    """
    if one_scale is None:
        one_scale = all(ink.meta.get("units") == MODEL_UNITS for ink in inks)
    shapes = [_line_shape(ink) for ink in inks]
    sizes = [shape[2] for shape in shapes if shape]
    common = float(np.median(sizes)) if one_scale and sizes else None
    lines, above, shift, column = [], {}, 0.0, COLUMN * line_height
    for i, shape in enumerate(shapes):
        if not shape:
            lines.append([])
            continue
        strokes, origin, size = shape
        scale = ROBUST_HEIGHT * line_height / (common or size)
        centre = np.array([0.0, (i + 0.5) * line_height + shift])
        flip = np.array([scale, -scale])  # ink is y up, the page y down
        line = [(s - origin) * flip + centre for s in strokes]
        profile = column_profile(line, column)
        # a line whose ink would touch the line above's moves down, and the lines after it
        overlap = max(clearance(above, profile) + GAP * line_height, 0.0)
        shift += overlap
        lines.append([s + [0.0, overlap] for s in line])
        above = {c: (top + overlap, bottom + overlap) for c, (top, bottom) in profile.items()}
    # every line's slot is on the page, so empty lines still take their space
    slots = np.array([[0.0, 0.0], [0.0, len(inks) * line_height + shift]])
    extent = np.concatenate([slots, *(s for line in lines for s in line)])
    top_left = extent.min(0) - margin
    width, height = extent.max(0) + margin - top_left
    return Page([[s - top_left for s in line] for line in lines], float(width), float(height))


def _line_shape(ink: Ink) -> tuple[list[np.ndarray], np.ndarray, float] | None:
    """A line's strokes, the point to place at its slot, and its robust height."""
    strokes = split_strokes(ink.strokes)
    if not strokes:
        return None
    points = np.concatenate(strokes)
    x, y = points[:, 0], points[:, 1]
    # measure the height across the baseline's trend, so a drifting line isn't shrunk
    slope = np.polyfit(x, y, 1)[0] if np.ptp(x) > 0 and len(x) > 2 else 0.0
    across = y - slope * (x - x.mean())
    lo, hi = np.percentile(across, [10, 90])
    # a flat line or a lone dot has no robust height: fall back to any extent at all
    size = (hi - lo) or np.ptp(y) or np.ptp(x) or 1.0
    origin = np.array([x.min(), (lo + hi) / 2 + slope * (x.min() - x.mean())])
    return strokes, origin, float(size)


def ink_to_svg(inks: list[Ink], *, line_height: float = LINE_HEIGHT, width: float | None = None,
               stroke_width: float = STROKE_WIDTH, color: str = "black",
               background: str = "white", margin: float = MARGIN,
               one_scale: bool | None = None) -> str:
    """A standalone SVG page, one `<path>` per pen-down stroke (a `<circle>` for a dot);
    `width` is the display width in px (default: one px per page unit)."""
    page = layout_page(inks, line_height=line_height, margin=margin, one_scale=one_scale)
    zoom = 1.0 if width is None else width / page.width
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{page.width * zoom:.2f}" '
           f'height="{page.height * zoom:.2f}" viewBox="0 0 {page.width:.2f} {page.height:.2f}">']
    out.append(f'<rect width="{page.width:.2f}" height="{page.height:.2f}" '
               f'fill={quoteattr(background)}/>')
    out.append(f'<g fill="none" stroke={quoteattr(color)} stroke-width="{stroke_width:g}" '
               'stroke-linecap="round" stroke-linejoin="round">')
    for stroke in (s for line in page.lines for s in line):
        if np.ptp(stroke, axis=0).max() == 0:
            x, y = stroke[0]
            out.append(f'<circle cx="{x:.2f}" cy="{y:.2f}" r="{stroke_width / 2:g}" '
                       f'fill={quoteattr(color)} stroke="none"/>')
        else:
            out.append(svg_path(stroke))
    out.append("</g>\n</svg>\n")
    return "\n".join(out)


def svg_path(points: np.ndarray) -> str:
    """One polyline as an SVG `<path>`, coordinates to 0.01 of the user unit."""
    return '<path d="M' + " L".join(f"{x:.2f} {y:.2f}" for x, y in points) + '"/>'


class _Canvas:
    """A supersampled coverage mask of the page: draw strokes in page units, read back
    anti-aliased pixels. Round caps and joins come from a disc at every vertex."""

    def __init__(self, page: Page, scale: float, width: int | None, stroke_width: float):
        pixels_per_unit = scale if width is None else width / page.width
        self.size = (max(1, round(page.width * pixels_per_unit)),
                     max(1, round(page.height * pixels_per_unit)))
        self.factor = SUPERSAMPLE
        while self.factor > 1 and self.size[0] * self.size[1] * self.factor ** 2 > MAX_CANVAS:
            self.factor -= 1
        self.zoom = pixels_per_unit * self.factor
        self.radius = stroke_width * self.zoom / 2
        self.mask = Image.new("L", (self.size[0] * self.factor, self.size[1] * self.factor))
        self.draw = ImageDraw.Draw(self.mask)
        self.pixels = Image.new("L", self.size)
        self.dirty = np.array([*self.size, 0, 0])  # output pixels not yet averaged: x0 y0 x1 y1

    def stroke(self, points: np.ndarray, widths: np.ndarray | None = None) -> None:
        """A pen-down stroke; `widths` scales the pen at each point (default: all 1)."""
        xy = points * self.zoom
        flat = xy.ravel().tolist()
        radii = self.radius * (np.ones(len(points)) if widths is None else widths)
        if len(points) > 1 and widths is None:
            self.draw.line(flat, fill=255, width=max(1, round(2 * self.radius)))
        elif len(points) > 1:
            for i in range(len(points) - 1):
                self.draw.line(flat[2 * i:2 * i + 4], fill=255,
                               width=max(1, round(radii[i] + radii[i + 1])))
        for x, y, r in zip(flat[::2], flat[1::2], radii.tolist(), strict=True):
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        r = float(radii.max())
        reach = np.concatenate([(xy.min(0) - r) // self.factor - 1,
                                (xy.max(0) + r) // self.factor + 2]).astype(int)
        self.dirty = np.concatenate([np.minimum(self.dirty[:2], reach[:2]),
                                     np.maximum(self.dirty[2:], reach[2:])])

    def coverage(self) -> Image.Image:
        """Ink coverage per output pixel, 0-255 ("L"): the mean of its supersamples. Only the
        region drawn since the last call is averaged again, which keeps GIF frames cheap."""
        x0, y0, x1, y1 = np.clip(self.dirty, 0, [*self.size, *self.size]).tolist()
        if x0 < x1 and y0 < y1:
            f = self.factor
            self.pixels.paste(self.mask.crop((x0 * f, y0 * f, x1 * f, y1 * f)).reduce(f), (x0, y0))
        self.dirty = np.array([*self.size, 0, 0])
        return self.pixels


def render_png(inks: list[Ink], path_or_file, *, line_height: float = LINE_HEIGHT,
               scale: float = 1.0, width: int | None = None, stroke_width: float = STROKE_WIDTH,
               color: str = "black", background: str = "white", margin: float = MARGIN,
               one_scale: bool | None = None) -> None:
    """An RGB PNG of the page at `scale` px per page unit, or `width` px wide when given."""
    page = layout_page(inks, line_height=line_height, margin=margin, one_scale=one_scale)
    canvas = _Canvas(page, scale, width, stroke_width)
    for stroke in (s for line in page.lines for s in line):
        canvas.stroke(stroke)
    ink = Image.new("RGB", canvas.size, color)
    image = Image.composite(ink, Image.new("RGB", canvas.size, background), canvas.coverage())
    _save_image(image, path_or_file, "PNG", optimize=True)


MAX_PX_PER_MM = 48.0  # a sheet PNG at 1,200 dpi; an A4 sheet is then 140 megapixels


@dataclass
class PenStyle:
    """How ink looks on screen: its colour in every picture, the rest on a sheet's PNG;
    plotter files keep their single-line ink."""

    color: str = "black"        # ink colour: a name such as navy, or #RRGGBB
    pen_width: float = 0.5      # mm, at the pen's mean speed
    smooth: bool = True         # draw a Catmull-Rom spline through the sampled points
    speed_width: bool = True    # a fast pen draws thinner, a slow one thicker
    px_per_mm: float = 8.0      # resolution of a PNG sheet (8 px/mm is about 200 dpi)

    def __post_init__(self) -> None:
        try:
            ImageColor.getrgb(self.color)
        except ValueError:
            raise ValueError(f"--color: unknown colour {self.color!r} (a name such as navy, "
                             "or #RRGGBB)") from None
        if not 0 < self.pen_width < math.inf:
            raise ValueError(f"--pen-width must be above 0 mm, got {self.pen_width:g}")
        if not 0 < self.px_per_mm <= MAX_PX_PER_MM:
            raise ValueError(f"--px-per-mm must be above 0 and at most {MAX_PX_PER_MM:g} "
                             f"(about 1,200 dpi), got {self.px_per_mm:g}")


def smooth_stroke(stroke: np.ndarray, per_segment: int = 4) -> np.ndarray:
    """A Catmull-Rom spline through a stroke's points, `per_segment` points per segment; it
    passes through every sampled point, so the shape is kept and only corners round off."""
    if len(stroke) < 3:
        return stroke
    p = np.vstack([stroke[:1], stroke, stroke[-1:]])
    p0, p1, p2, p3 = (p[i:len(p) - 3 + i, None] for i in range(4))  # (n - 1, 1, 2) each
    t = np.linspace(0, 1, per_segment, endpoint=False)[None, :, None]
    curve = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                   + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3)
    return np.vstack([curve.reshape(-1, 2), stroke[-1:]])


def speed_widths(stroke: np.ndarray, mean_step: float) -> np.ndarray:
    """Pen width per point, relative to 1: sampled points are equally spaced in time, so a
    long step is a fast pen, which lays down a thinner line (from 0.6 to 1.4)."""
    if len(stroke) < 2:
        return np.ones(len(stroke))
    step = np.hypot(*np.diff(stroke, axis=0).T)
    speed = np.r_[step[0], (step[1:] + step[:-1]) / 2, step[-1]] / max(mean_step, 1e-9)
    return np.clip(1.4 - 0.4 * speed, 0.6, 1.4)


def render_sheet_png(width: float, height: float, strokes: list[np.ndarray], path_or_file,
                     style: PenStyle | None = None, travel: str | None = None) -> None:
    """A sheet of paper (`width` x `height` mm, strokes in mm, y down) as an RGB PNG; with
    `travel` a colour, the pen-up moves between strokes (in their order) are drawn in it."""
    style = style or PenStyle()
    page = Page([], width, height)
    canvas = _Canvas(page, style.px_per_mm, None, style.pen_width)
    steps = [np.hypot(*np.diff(s, axis=0).T) for s in strokes if len(s) > 1]
    mean_step = float(np.mean(np.concatenate(steps))) if steps else 1.0
    for stroke in strokes:
        widths = speed_widths(stroke, mean_step) if style.speed_width else np.ones(len(stroke))
        if style.smooth and len(stroke) > 2:
            at = np.linspace(0, len(stroke) - 1, 4 * (len(stroke) - 1) + 1)
            widths = np.interp(at, np.arange(len(stroke)), widths)
            stroke = smooth_stroke(stroke)
        canvas.stroke(stroke, widths)
    image = Image.composite(Image.new("RGB", canvas.size, style.color),
                            Image.new("RGB", canvas.size, "white"), canvas.coverage())
    if travel and strokes:
        moves = _Canvas(page, style.px_per_mm, None, style.pen_width / 2)
        for before, after in zip(strokes[:-1], strokes[1:], strict=True):
            moves.stroke(np.stack([before[-1], after[0]]))
        image = Image.composite(Image.new("RGB", canvas.size, travel), image, moves.coverage())
    _save_image(image, path_or_file, "PNG", optimize=True)


def render_gif(inks: list[Ink], path_or_file, *, fps: float = 20.0,
               points_per_frame: int | None = None, seconds_per_line: float = 3.0,
               max_frames: int = 300, hold_seconds: float = 1.5,
               line_height: float = LINE_HEIGHT, scale: float = 1.0, width: int | None = None,
               stroke_width: float = STROKE_WIDTH, color: str = "black",
               background: str = "white", margin: float = MARGIN,
               one_scale: bool | None = None) -> None:
    """An animated GIF of the pen writing the page in order, a constant number of points per
    frame (by default a median line takes `seconds_per_line`, at most `max_frames` frames);
    the last frame is held for `hold_seconds`. 16-colour palette frames keep files small."""
    page = layout_page(inks, line_height=line_height, margin=margin, one_scale=one_scale)
    strokes = [s for line in page.lines for s in line]
    ends = np.cumsum([len(s) for s in strokes], dtype=np.int64)  # points drawn after stroke i
    total = int(ends[-1]) if len(ends) else 0
    if points_per_frame is None:
        line_points = [sum(len(s) for s in line) for line in page.lines if line]
        median = float(np.median(line_points)) if line_points else 1.0
        points_per_frame = max(1, round(median / (seconds_per_line * fps)))
    points_per_frame = max(points_per_frame, math.ceil(total / max_frames), 1)

    # palette index k is the shade k / (GIF_LEVELS - 1) of the way from background to ink
    shade = np.linspace(0.0, 1.0, GIF_LEVELS)[:, None]
    ink_rgb, paper_rgb = (np.array(ImageColor.getrgb(c)[:3]) for c in (color, background))
    palette = np.round(paper_rgb + shade * (ink_rgb - paper_rgb)).astype(np.uint8)
    to_index = [round(v * (GIF_LEVELS - 1) / 255) for v in range(256)]

    canvas = _Canvas(page, scale, width, stroke_width)
    frames, drawn = [], 0
    for stop in range(points_per_frame, total + points_per_frame, points_per_frame):
        stop = min(stop, total)
        first = int(np.searchsorted(ends, drawn, side="right"))
        for i in range(first, len(strokes)):
            start = int(ends[i]) - len(strokes[i])
            if start >= stop:
                break
            # from the last point already drawn, so the new piece joins the old one
            canvas.stroke(strokes[i][max(drawn - start - 1, 0):stop - start])
        drawn = stop
        frame = canvas.coverage().point(to_index)
        frame.putpalette(palette.ravel().tolist())  # "L" indices + palette -> "P"
        frames.append(frame)
    if not frames:  # nothing to write: one blank page
        frames = [Image.new("P", canvas.size, 0)]
        frames[0].putpalette(palette.ravel().tolist())
    frame_ms = 1000.0 / fps
    durations = [round(frame_ms)] * (len(frames) - 1) + [round(frame_ms + 1000 * hold_seconds)]
    _save_image(frames[0], path_or_file, "GIF", save_all=True, append_images=frames[1:],
                duration=durations, loop=0)


def _save_image(image: Image.Image, path_or_file, format: str, **params) -> None:
    """Save to an open binary file as is, or to a path atomically."""
    if hasattr(path_or_file, "write"):
        image.save(path_or_file, format=format, **params)
    else:
        atomic_write(path_or_file, lambda f: image.save(f, format=format, **params))


def check_format(path: str | Path) -> str:
    """The kind of file `save_inks` writes to `path`, or an error naming the path: said before
    the work, not after it."""
    return output_kind(path, FORMATS, "handwriting")


def save_inks(inks: list[Ink], path: str | Path, **kw) -> None:
    """Write `inks` to a file whose kind follows the extension (see FORMATS); `kw` goes to
    the renderer for images. Every write is atomic."""
    path = Path(path)
    kind = check_format(path)
    if kind in (".npz", ".inkml") and kw:
        raise TypeError(f"{path}: {kind} files take no drawing options, got {sorted(kw)}")
    if kind == ".svg":
        svg = ink_to_svg(inks, **kw)
        atomic_write(path, lambda f: f.write(svg.encode("utf-8")))
    elif kind == ".png":
        render_png(inks, path, **kw)
    elif kind == ".gif":
        render_gif(inks, path, **kw)
    elif kind == ".npz":
        write_lines(path, inks)
    else:
        from .ink.inkml import write_inkml  # written alongside; imported only when needed

        write_inkml(path, inks)
