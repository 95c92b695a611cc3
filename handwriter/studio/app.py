"""The studio's web server: a Starlette app around the shipped models and the saved styles.

Ink streams as server-sent events over one POST (`/api/write`): a bad request is answered
with a 4xx and `{"error": ...}` before any ink, and closing the connection cancels the
stream, which stops its generation. Adapting the network to a drawn hand (`/api/adapt`)
streams its progress the same way, one adaptation at a time. The server writes nothing but
the styles users save.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..adapt import ADAPT_FROM, AdaptConfig, adapt_style
from ..ink import Ink, inkml_bytes
from ..layout import PageConfig, TextLine, place_lines
from ..plotter import PlotterConfig, plot_file, plot_order
from ..render import ink_to_svg, render_gif, render_png
from ..sample import WRITING
from ..styles import MAX_POINTS as MAX_STYLE_POINTS
from ..styles import (
    StyleExists,
    check_new,
    check_style,
    list_styles,
    remove_style,
    save_style,
    weights_path,
)
from . import StudioConfig
from .live import DRAFTS, MAX_LINES, STYLES, Models, page_events, parse_job

STATIC = resources.files("handwriter") / "studio" / "static"
EXPORTS = {"svg": "image/svg+xml", "png": "image/png", "gif": "image/gif",
           "inkml": "application/inkml+xml", "plotter.svg": "image/svg+xml",
           "gcode": "text/plain", "hpgl": "application/vnd.hp-hpgl"}
PLOTTER_PAGES = ("A4", "A5", "A6", "Letter", "postcard")  # sheets the page offers plotters
LOG = logging.getLogger(__name__)
MAX_ADAPT_WAITING = 2  # adaptations queued behind the one running; more get a 503


class Cancelled(Exception):
    """The page that asked for an adaptation went away."""


class Busy(Exception):
    """The queue is full."""


class Gate:
    """At most `slots` generations run; the rest wait first come, first served."""

    def __init__(self, slots: int, max_waiting: int):
        self.slots, self.max_waiting = slots, max_waiting
        self.running = 0
        self.waiting: list[object] = []
        self.changed = asyncio.Event()

    def join(self) -> object:
        if len(self.waiting) >= self.max_waiting:
            raise Busy
        ticket = object()
        self.waiting.append(ticket)
        return ticket

    async def turn(self, ticket: object) -> AsyncIterator[int]:
        """Yield the ticket's place in the queue (1 = next) each time it changes, until it runs."""
        shown = None
        while not (self.waiting[0] is ticket and self.running < self.slots):
            place = self.waiting.index(ticket) + 1
            if place != shown:
                shown = place
                yield place
            changed = self.changed
            await changed.wait()
        self.waiting.pop(0)
        self.running += 1
        self._notify()

    def leave(self, ticket: object) -> None:
        if ticket in self.waiting:
            self.waiting.remove(ticket)
        else:
            self.running -= 1
        self._notify()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class Steps:
    """A generator advanced from worker threads, one step at a time: `close` waits for a step
    still in flight (closing a generator while another thread runs it is an error)."""

    def __init__(self, events: Iterator[dict]):
        self.events, self.turn = events, threading.Lock()

    def next(self) -> dict | None:
        with self.turn:
            return next(self.events, None)

    def close(self) -> None:
        with self.turn:
            self.events.close()


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def read_json(request: Request, limit: int) -> dict:
    """The request's JSON object, read no further than `limit` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"the request is over the limit of {limit:,} bytes")
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HTTPException(400, "the request body is not JSON") from None
    if not isinstance(value, dict):
        raise HTTPException(400, "the request body must be a JSON object")
    return value


def inks_from(request: dict, max_points: int, texts: bool = False) -> list[Ink]:
    """`{"lines": [{"strokes": [[dx, dy, pen_lift], ...], "text": ...}, ...]}` -> Inks."""
    lines = request.get("lines")
    if not isinstance(lines, list) or not lines:
        raise ValueError("'lines' must be a non-empty list of {strokes, text}")
    inks, total = [], 0
    for i, line in enumerate(lines, 1):
        if not isinstance(line, dict):
            raise ValueError(f"line {i} must be an object with strokes and text")
        try:
            strokes = np.asarray(line.get("strokes", []), dtype=np.float64)
        except (TypeError, ValueError):
            strokes = None
        if strokes is None or strokes.ndim != 2 or strokes.shape[1] != 3 \
                or not np.isfinite(strokes).all() or np.abs(strokes).max(initial=0) > 1e6:
            raise ValueError(f"line {i}: strokes must be rows of three finite numbers "
                             "[dx, dy, pen_lift]")
        total += len(strokes)
        if total > max_points:
            raise ValueError(f"the ink is over the limit of {max_points:,} points")
        text = line.get("text", "")
        if not isinstance(text, str) or (texts and not text.strip()):
            raise ValueError(f"line {i} needs the text it says")
        inks.append(Ink(strokes, text=text))
    return inks


def style_request(body: dict, models: Models) -> tuple[str, list[Ink], list[str]]:
    """The name, lines and warnings of a style the page asks to save, or a ValueError; as
    `style add` without `--replace`, a saved style is replaced only when `replace` is true."""
    inks = inks_from(body, MAX_STYLE_POINTS, texts=True)
    warnings = check_style(models.synthesis, inks, [f"line {i}" for i in range(1, len(inks) + 1)])
    name = body.get("name")
    if not isinstance(name, str):
        raise ValueError("the style needs a name")
    check_new(name, body.get("replace") is True, "send replace to replace it")
    return name, inks, warnings


def adapt_and_save(models: Models, name: str, inks: list[Ink], cfg: AdaptConfig,
                   progress: Callable[[float], None], cancelled: threading.Event) -> str:
    """`adapt_style` stopped when `cancelled` is set; its summary."""
    def step(share: float) -> None:
        if cancelled.is_set():
            raise Cancelled
        progress(share)

    return adapt_style(models.synthesis, name, inks, cfg, step)[0].summary()


def create_app(cfg: StudioConfig | None = None, models: Models | None = None,
               adapting: AdaptConfig | None = None) -> Starlette:
    """The studio as an ASGI app (serve it with uvicorn, or test it with a TestClient);
    `adapting` is how a drawn hand of ADAPT_FROM lines or more is adapted to."""
    cfg = cfg or StudioConfig()
    models = models or Models()
    adapting = adapting or AdaptConfig()
    workers = ThreadPoolExecutor(cfg.max_active + 1, thread_name_prefix="studio")
    adapter = ThreadPoolExecutor(1, thread_name_prefix="studio-adapt")  # one at a time
    gate = Gate(cfg.max_active, cfg.max_waiting)
    adapt_gate = Gate(1, MAX_ADAPT_WAITING)

    async def in_thread(function, *args):
        return await asyncio.get_running_loop().run_in_executor(workers, function, *args)

    async def index(request: Request) -> Response:
        return FileResponse(str(STATIC / "index.html"))

    async def styles(request: Request) -> Response:
        adapts = await in_thread(lambda: models.synthesis.style_net is not None)
        saved = list_styles()
        return JSONResponse({"numbered": STYLES, "saved": saved,
                             "adapted": [name for name in saved if weights_path(name).is_file()],
                             "max_text": cfg.max_text, "max_lines": MAX_LINES,
                             "drafts": DRAFTS, "style_drafts": WRITING.style_drafts,
                             "adapt_from": ADAPT_FROM if adapts else None,
                             "adapt_minutes": adapting.minutes})

    async def write(request: Request) -> Response:
        try:
            job = await in_thread(parse_job, await read_json(request, cfg.max_body), models,
                                  cfg.max_text)
        except (ValueError, FileNotFoundError) as e:
            return error(400, str(e))
        try:
            ticket = gate.join()
        except Busy:
            return error(503, "the studio is busy; try again in a minute")
        return StreamingResponse(stream(job, ticket), media_type="text/event-stream",
                                 # not no-store: with it chromium reports a stream read to its
                                 # end as aborted (microsoft/playwright#42742)
                                 headers={"Cache-Control": "no-cache"})

    async def stream(job, ticket) -> AsyncIterator[str]:
        steps: Steps | None = None
        try:
            async for place in gate.turn(ticket):
                yield sse({"type": "queued", "position": place})
            steps = Steps(page_events(models, job))
            while (event := await in_thread(steps.next)) is not None:
                yield sse(event)
        except (ValueError, FileNotFoundError) as e:
            yield sse({"type": "error", "error": str(e)})
        finally:  # also on cancellation (the client went away): no await can run here
            gate.leave(ticket)
            if steps is not None:
                workers.submit(steps.close)

    async def export(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in EXPORTS:
            return error(404, f"no export as {kind!r}; choose one of {', '.join(EXPORTS)}")
        try:
            request_body = await read_json(request, cfg.max_body)
            inks = inks_from(request_body, cfg.max_ink)
            paper = request_body.get("paper", PLOTTER_PAGES[0])
            if paper not in PLOTTER_PAGES:
                raise ValueError(f"paper must be one of {', '.join(PLOTTER_PAGES)}, "
                                 f"not {paper!r}")
        except ValueError as e:
            return error(400, str(e))
        try:
            body = await in_thread(render, inks, kind, paper)
        except ValueError as e:
            return error(400, str(e))
        return Response(body, media_type=EXPORTS[kind], headers={
            "Content-Disposition": f'attachment; filename="handwriter.{kind}"'})

    async def read(request: Request) -> Response:
        try:
            inks = inks_from(await read_json(request, cfg.max_body), cfg.max_ink)
        except ValueError as e:
            return error(400, str(e))
        return JSONResponse({"texts": await in_thread(models.reader.read, inks)})

    async def save(request: Request) -> Response:
        try:
            name, inks, warnings = await in_thread(style_request, await read_json(
                request, cfg.max_body), models)
            save_style(name, inks)
        except ValueError as e:
            return error(409 if isinstance(e, StyleExists) else 400, str(e))
        return JSONResponse({"name": name, "saved": list_styles(), "warnings": warnings},
                            status_code=201)

    async def adapt_style(request: Request) -> Response:
        """Adapt to a drawn hand and save it: `queued`, `progress` events, then `saved`."""
        try:
            name, inks, warnings = await in_thread(style_request, await read_json(
                request, cfg.max_body), models)
            if len(inks) < ADAPT_FROM:
                raise ValueError(f"adapting needs {ADAPT_FROM} lines or more, got {len(inks)}; "
                                 "save fewer as a style read from them")
            if models.synthesis.style_net is None:
                raise ValueError("this synthesis model has no style input to adapt")
        except ValueError as e:
            return error(409 if isinstance(e, StyleExists) else 400, str(e))
        try:
            ticket = adapt_gate.join()
        except Busy:
            return error(503, "the studio is adapting to other hands; try again in a minute")
        return StreamingResponse(adapt_stream(name, inks, warnings, ticket),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    async def adapt_stream(name: str, inks: list[Ink], warnings: list[str], ticket
                           ) -> AsyncIterator[str]:
        loop, told = asyncio.get_running_loop(), asyncio.Queue()
        cancelled = threading.Event()

        def tell(event: dict) -> None:  # from the adapting thread
            loop.call_soon_threadsafe(told.put_nowait, event)

        def job() -> None:
            try:
                summary = adapt_and_save(models, name, inks, adapting, lambda share: tell(
                    {"type": "progress", "share": round(share, 3)}), cancelled)
            except Cancelled:
                return
            except Exception as e:  # said to the page, not left hanging
                if not isinstance(e, ValueError | OSError):
                    LOG.exception("adapting to style %r failed", name)
                tell({"type": "error", "error": str(e) or type(e).__name__})
                return
            tell({"type": "saved", "name": name, "saved": list_styles(), "summary": summary,
                  "warnings": warnings})

        try:
            async for place in adapt_gate.turn(ticket):
                yield sse({"type": "queued", "position": place})
            yield sse({"type": "progress", "share": 0.0})
            adapter.submit(job)
            while (event := await told.get())["type"] == "progress":
                yield sse(event)
            yield sse(event)
        finally:  # also on cancellation (the page went away): the adaptation stops unsaved
            cancelled.set()
            adapt_gate.leave(ticket)

    async def remove(request: Request) -> Response:
        try:
            remove_style(request.path_params["name"])
        except ValueError as e:
            return error(400, str(e))
        except FileNotFoundError as e:
            return error(404, str(e))
        return JSONResponse({"saved": list_styles()})

    async def http_error(request: Request, e: HTTPException) -> Response:
        return error(e.status_code, e.detail)

    routes = [Route("/", index), Route("/api/styles", styles), Route("/api/write", write,
              methods=["POST"]), Route("/api/export/{kind}", export, methods=["POST"]),
              Route("/api/read", read, methods=["POST"]),
              Route("/api/styles", save, methods=["POST"]),
              Route("/api/adapt", adapt_style, methods=["POST"]),
              Route("/api/styles/{name}", remove, methods=["DELETE"]),
              Mount("/static", StaticFiles(directory=str(STATIC)), name="static")]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        workers.shutdown(wait=False, cancel_futures=True)  # the threads end with the server
        adapter.shutdown(wait=False, cancel_futures=True)

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error},
                     lifespan=lifespan)


def sse(event: dict) -> str:
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n"


def render(inks: list[Ink], kind: str, paper: str = "A4") -> bytes:
    """The page as a file of `kind`, in memory (the server writes no files). Plotter files
    hold the lines laid out on one sheet of `paper` as `write --output` would
    (`layout.place_lines`)."""
    if kind in ("plotter.svg", "gcode", "hpgl"):
        sheets = place_lines(inks, [TextLine(ink.text) for ink in inks], PageConfig(page=paper))
        if len(sheets) > 1:
            raise ValueError(f"the page needs {len(sheets)} sheets of {paper}; plotter files "
                             "hold one: choose larger paper")
        cfg, suffix = PlotterConfig(), "." + kind.split(".")[-1]
        return plot_file(sheets[0], plot_order(sheets[0], cfg, suffix), suffix,
                         cfg).encode("ascii")
    if kind == "inkml":
        return inkml_bytes(inks)
    if kind == "svg":
        return ink_to_svg(inks, one_scale=True).encode("utf-8")
    out = io.BytesIO()
    (render_png if kind == "png" else render_gif)(inks, out, one_scale=True)
    return out.getvalue()


def serve(cfg: StudioConfig, open_browser: bool = False) -> None:
    """Run the studio until Ctrl-C; `open_browser` opens it in the default browser."""
    import webbrowser

    import torch
    import uvicorn

    from ..sample import blas_threads

    torch.set_num_threads(1)  # one core per generation: concurrent pages share the CPU well
    blas_threads(1)           # and numpy's BLAS too, for good: each generation restores 1
    try:  # bound here, so a port in use is one line and the address is printed only once held
        family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((cfg.host, cfg.port))
    except OSError as e:
        raise OSError(f"cannot listen on {cfg.host} port {cfg.port}: {e.strerror or e} "
                      "(--port picks another)") from None
    url = f"http://{'localhost' if cfg.host in ('127.0.0.1', '::1') else cfg.host}:{cfg.port}/"
    print(f"handwriter studio: {url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, [url]).start()
    server = uvicorn.Server(uvicorn.Config(create_app(cfg), log_level="warning"))
    server.run(sockets=[listening])
