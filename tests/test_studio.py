import asyncio
import io
import json
import socket
import threading
import time
import urllib.request
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image
from starlette.testclient import TestClient

from handwriter.adapt import AdaptConfig, adapt
from handwriter.data import leaned, prepared, slant_of
from handwriter.ink import Ink
from handwriter.sample import WRITING, SampleConfig
from handwriter.studio import StudioConfig, live
from handwriter.studio.app import Busy, Cancelled, Gate, adapt_and_save, create_app
from handwriter.studio.live import Models
from handwriter.writing import write_page

LINE = {"strokes": [[0, 0, 0], [1, 0.5, 0], [1, -0.5, 1], [0.5, 0.2, 0], [0.3, 0.1, 1]],
        "text": "hi"}


@pytest.fixture(scope="module")
def models(synth_model, text_model) -> Models:
    """Tiny random models (fast), with the shipped reader."""
    return Models(synth_model, text_model)


@pytest.fixture(scope="module")
def client(tmp_path_factory, models):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HANDWRITER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        with TestClient(create_app(StudioConfig(max_text=100, max_body=20_000), models)) as c:
            yield c


def events(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return [json.loads(chunk[6:]) for chunk in response.text.split("\n\n") if chunk]


def strokes_of(evs: list[dict], line: int = 0) -> np.ndarray:
    return np.concatenate([e["points"] for e in evs if e["type"] == "points"
                           and e["line"] == line])


def test_live_ink_is_the_line_write_draws_for_that_seed(client, models):
    evs = events(client.post("/api/write", json={"mode": "write", "text": "hello", "seed": 4,
                                                 "drafts": 1}))
    assert evs[0] == {"type": "start", "seed": 4, "lines": ["hello"]}
    assert evs[-1] == {"type": "done"}
    assert all(len(e["points"]) <= live.CHUNK for e in evs[1:-1])
    expected = write_page(models.synthesis, ["hello"], SampleConfig(seed=4, bias=0.75,
                          max_points=1500, candidates=1))[0]
    np.testing.assert_allclose(strokes_of(evs), expected.strokes, atol=1e-3)


def test_a_live_segment_that_slips_is_taken_back_and_drawn_again_a_bounded_number_of_times(
        models, monkeypatch):
    job = live.parse_job({"mode": "write", "text": "hello", "seed": 4, "drafts": 1}, models,
                         100)
    first = strokes_of(list(live.page_events(models, job)))
    verdicts = iter([True, True])  # the first take and the second slip; the third is kept
    monkeypatch.setattr(live, "spoiled", lambda ink: next(verdicts, False))
    evs = list(live.page_events(models, job))
    taken_back = [i for i, e in enumerate(evs) if e["type"] == "line"]
    assert [evs[i] for i in taken_back] == [{"type": "line", "line": 0, "points": []}] * 2
    kept = strokes_of(evs[taken_back[-1]:])  # what the page shows after the last take-back
    assert not np.array_equal(kept, first) and kept[-1, 2] == 1 and evs[-1]["type"] == "done"
    monkeypatch.setattr(live, "spoiled", lambda ink: True)  # never clean: kept after 32 takes
    evs = list(live.page_events(models, job))
    assert live.SPOILED_TRIES == 32
    assert sum(e["type"] == "line" for e in evs) == 31 and evs[-1]["type"] == "done"


def test_long_text_wraps_into_a_page_and_drafts_replace_each_line(client):
    evs = events(client.post("/api/write", json={"mode": "write", "text": "ab cd ef", "width": 10,
                                                 "seed": 1, "drafts": 2, "bias": 1.0}))
    assert evs[0]["lines"] == ["ab cd ef"]
    evs = events(client.post("/api/write", json={"mode": "write", "text": "ab cd ef gh",
                                                 "width": 10, "seed": 1, "drafts": 2}))
    assert evs[0]["lines"] == ["ab cd ef", "gh"] and "notice" not in evs[0]
    replaced = [e["line"] for e in evs if e["type"] == "line"]
    assert replaced == [0, 1] and {e["line"] for e in evs if e["type"] == "points"} == {0, 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said on the page, not on the server's console
        evs = events(client.post("/api/write", json={"mode": "write", "text": "ab " + "c" * 14,
                                                     "width": 10, "seed": 1, "drafts": 1}))
    assert evs[0]["lines"] == ["ab ccccccc", "ccccccc"]
    assert evs[0]["notice"] == (f"{'c' * 14!r}: longer than a line of 10 characters, so "
                                "split across lines (smaller letters fit more)")


def test_from_nothing_shows_its_seed_and_the_seed_gives_the_same_lines(client, models):
    first = events(client.post("/api/write", json={"mode": "sample", "lines": 1, "bias": 1}))
    seed = first[0]["seed"]
    assert len(first[0]["lines"]) == 1 and first[0]["lines"][0]  # drafted text, shown
    assert models.text_model.cfg.hidden_size == 8  # the tiny model, not the shipped
    again = events(client.post("/api/write", json={"mode": "sample", "lines": 1, "bias": 1,
                                                   "seed": seed}))
    assert again[0]["lines"] == first[0]["lines"]
    np.testing.assert_array_equal(strokes_of(first), strokes_of(again))
    narrow = events(client.post("/api/write", json={"mode": "sample", "lines": 3, "bias": 1,
                                                    "width": 10, "seed": 2}))
    assert all(len(text) <= 10 for text in narrow[0]["lines"])  # a phone's width, drafted to


@pytest.mark.parametrize("request_json, status, message", [
    ({"mode": "write", "text": "x" * 101}, 400, "101 characters long; the studio writes at most"),
    ({"mode": "write", "text": "   "}, 400, "type some text"),
    ({"mode": "write", "text": "hi H"}, 400, "cannot write 'H'"),
    ({"mode": "write", "text": "hi", "bias": "high"}, 400, "bias must be a number"),
    ({"mode": "write", "text": "hi", "seed": -1}, 400, "seed must be between"),
    ({"mode": "write", "text": "hi", "seed": 1.5}, 400, "seed must be a whole number"),
    ({"mode": "write", "text": "hi", "style": "nobody"}, 400, "no style named 'nobody'"),
    ({"mode": "write", "text": "hi", "style": 99}, 400, "style must be between 0 and 9"),
    ({"mode": "write", "text": "hi", "strength": 4}, 400, "strength must be between 0.0 and 3.0"),
    ({"mode": "sample", "lines": 50}, 400, "lines must be between 1 and 6"),
    ({"mode": "dance"}, 400, "mode must be"),
    ({"mode": "write", "text": "a " * 11000}, 413, "over the limit of 20,000 bytes"),
])
def test_bad_requests_get_a_4xx_with_a_one_line_json_error(client, request_json, status, message):
    response = client.post("/api/write", json=request_json)
    assert response.status_code == status
    assert message in response.json()["error"] and "\n" not in response.json()["error"]


def test_style_zero_is_the_first_numbered_style_and_an_empty_one_none(models):
    write = {"mode": "write", "text": "hi"}
    assert live.parse_job({**write, "style": 0}, models, 100).style == 0
    assert live.parse_job({**write, "style": ""}, models, 100).style is None
    assert live.parse_job({"mode": "sample", "lines": None}, models, 100).count == 3  # box empty


def test_a_body_that_is_not_a_json_object_is_a_400(client):
    for body in (b"{not json", b"[1, 2]"):
        response = client.post("/api/write", content=body)
        assert response.status_code == 400 and "JSON" in response.json()["error"]


def test_downloads_in_every_format_parse(client):
    lines = [LINE, {**LINE, "text": "there"}]
    svg = client.post("/api/export/svg", json={"lines": lines})
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert len(ET.fromstring(svg.content).findall(".//{http://www.w3.org/2000/svg}path")) == 4
    for kind in ("png", "gif"):
        image = Image.open(io.BytesIO(client.post(f"/api/export/{kind}",
                                                  json={"lines": lines}).content))
        assert image.format == kind.upper() and image.width > 20
    inkml = ET.fromstring(client.post("/api/export/inkml", json={"lines": lines}).content)
    truths = [a.text for a in inkml.iter("{http://www.w3.org/2003/InkML}annotation")]
    assert truths == ["hi", "there"]
    assert client.post("/api/export/pdf", json={"lines": lines}).status_code == 404
    bad = client.post("/api/export/svg", json={"lines": [{"strokes": [[1, 2]]}]})
    assert bad.status_code == 400 and "three finite numbers" in bad.json()["error"]


def test_plotter_downloads_lay_the_page_on_a_sheet_in_mm_a4_unless_asked(client):
    lines = [LINE, {**LINE, "text": "there"}]  # two strokes a line: 3 points, then 2
    svg = ET.fromstring(client.post("/api/export/plotter.svg", json={"lines": lines}).content)
    assert (svg.get("width"), svg.get("height")) == ("210mm", "297mm")
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}path")) == 4
    gcode = client.post("/api/export/gcode", json={"lines": lines}).text.splitlines()
    moves = [line.split() for line in gcode if line.startswith(("G0 X", "G1 X"))]
    assert sum(m[0] == "G1" for m in moves) == 2 * (2 + 1)  # every point after a start
    assert sum(m[0] == "G0" for m in moves) == 4 + 1       # to each stroke, then home
    xy = np.array([[float(m[1][1:]), float(m[2][1:])] for m in moves[:-1]])
    assert (xy >= 15).all() and (xy[:, 0] <= 195).all() and (xy[:, 1] <= 282).all()  # margins
    hpgl = client.post("/api/export/hpgl", json={"lines": lines}).text
    assert hpgl.startswith("IN;") and hpgl.count("PD") == 4
    too_many = client.post("/api/export/gcode", json={"lines": [LINE] * 40})
    assert too_many.status_code == 400 and "sheets of A4" in too_many.json()["error"]
    a6 = client.post("/api/export/plotter.svg", json={"lines": lines, "paper": "A6"}).content
    assert (ET.fromstring(a6).get("width"), ET.fromstring(a6).get("height")) == ("105mm",
                                                                                  "148mm")
    bad = client.post("/api/export/hpgl", json={"lines": lines, "paper": "A0"})
    assert bad.status_code == 400 and "paper must be one of A4, A5" in bad.json()["error"]


def test_ink_over_the_limit_is_refused(tmp_path):
    app = create_app(StudioConfig(max_ink=4), Models())
    with TestClient(app) as c:
        response = c.post("/api/export/png", json={"lines": [LINE]})
    assert response.status_code == 400 and "limit of 4 points" in response.json()["error"]


def test_a_saved_style_is_read_at_the_strength_asked(stats_style_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HANDWRITER_DATA_DIR", str(tmp_path))
    from handwriter.styles import load_style, save_style

    styled = Models(stats_style_model)
    hand = write_page(styled.synthesis, ["my hand"], SampleConfig(seed=2, bias=2.0,
                      max_points=300, candidates=1))[0]
    save_style("mine", [Ink(hand.strokes, text="my hand")])
    job = live.parse_job({"mode": "write", "text": "hi", "style": "mine", "strength": 0.5},
                         styled, 100)
    assert job.strength == 0.5
    writer, primer, _ = styled.style("mine", job.strength)
    assert primer is None
    torch.testing.assert_close(writer.style, styled.synthesis.style_of(load_style("mine"), 0.5))
    assert not torch.allclose(writer.style, styled.synthesis.style_of(load_style("mine")))
    assert not styled.style("mine", 0.0)[0].style.any()


def test_a_page_in_a_saved_style_picks_from_more_drafts(stats_style_model, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("HANDWRITER_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(live, "spoiled", lambda ink: False)  # random weights scribble
    drafts = []
    monkeypatch.setattr(live, "write_lines_together", lambda writer, lines, cfg, *a:
                        drafts.append(cfg.candidates) or [Ink(np.zeros((1, 3)))] * len(lines))
    from handwriter.styles import save_style

    styled = Models(stats_style_model)
    save_style("mine", [Ink(write_page(styled.synthesis, ["my hand"], SampleConfig(
        max_points=100))[0].strokes, text="my hand")])
    for style, n in [(None, 2), (1, 2), ("mine", 2), (None, 1), ("mine", 1)]:
        job = live.parse_job({"mode": "write", "text": "hi", "style": style, "drafts": n},
                             styled, 100)
        list(live.page_events(styled, job))
    # as `write` counts them: one draft is live only, but a person's hand always gets more
    assert drafts == [2, 2, 2 * WRITING.style_drafts, WRITING.style_drafts]


def test_a_line_in_a_saved_style_comes_again_leaned_to_its_slant(stats_style_model, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("HANDWRITER_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(live, "spoiled", lambda ink: False)  # random weights scribble
    from handwriter.styles import load_style, save_style

    styled = Models(stats_style_model)
    text = "abcdefghijklmnopqrstuvwxyz " * 2
    hand = write_page(styled.synthesis, [text], SampleConfig(seed=2, max_points=300))[0]
    save_style("mine", [Ink(leaned(hand.strokes, slant_of(hand.strokes) + 0.2), text=text)])
    job = live.parse_job({"mode": "write", "text": "hi there", "style": "mine", "drafts": 1,
                          "seed": 3}, styled, 100)
    monkeypatch.setattr(live, "write_lines_together", lambda writer, lines, *a: [])
    evs = list(live.page_events(styled, job))
    drawn, again = strokes_of(evs), [e for e in evs if e["type"] == "line"][-1]
    writer = styled.style("mine")[0]
    assert writer.slant == pytest.approx(slant_of(prepared(load_style("mine")[0])))
    assert slant_of(np.array(again["points"])) == pytest.approx(
        (slant_of(drawn) + writer.slant) / 2, abs=0.02)  # halfway: `SampleConfig.lean`


def test_the_reader_reads_drawn_ink(client, models):
    ink = write_page(models.synthesis, ["hello"], SampleConfig(seed=4, bias=2.0, max_points=1500,
                     candidates=1))[0]
    response = client.post("/api/read", json={"lines": [{"strokes": ink.strokes.tolist()}]})
    assert response.json() == {"texts": models.reader.read([Ink(ink.strokes)])}  # as if drawn


def test_a_drawn_style_is_saved_then_written_in_and_removed(client, models):
    hand = write_page(models.synthesis, ["my hand"], SampleConfig(seed=2, bias=2.0,
                      max_points=1500, candidates=1))[0]
    body = {"name": "mine", "lines": [{"strokes": hand.strokes.tolist(), "text": "my hand"}]}
    saved = client.post("/api/styles", json=body)
    assert saved.status_code == 201 and saved.json()["warnings"] == []
    assert client.get("/api/styles").json()["saved"] == ["mine"]
    again = client.post("/api/styles", json=body)  # as `style add` without --replace
    assert again.status_code == 409 and again.json()["error"] == (
        "a style named 'mine' exists; send replace to replace it")
    assert client.post("/api/styles", json={**body, "replace": True}).status_code == 201
    request = {"mode": "write", "text": "ten", "seed": 1}
    plain = strokes_of(events(client.post("/api/write", json=request)))
    primed = strokes_of(events(client.post("/api/write", json={**request, "style": "mine"})))
    assert not np.array_equal(plain[:10], primed[:10])
    assert client.delete("/api/styles/mine").json() == {"saved": []}
    assert client.delete("/api/styles/mine").status_code == 404
    refused = client.post("/api/styles", json={**body, "name": "../up"})
    assert refused.status_code == 400 and "style name" in refused.json()["error"]
    unwritable = {**body, "lines": [{**body["lines"][0], "text": "Hand"}]}
    assert "cannot write" in client.post("/api/styles", json=unwritable).json()["error"]
    wordy = {**body, "lines": [{**body["lines"][0], "text": "my hand " * 12}]}
    assert "line 1: 'my hand my hand" in client.post("/api/styles", json=wordy).json()[
        "warnings"][0]


@pytest.fixture(scope="module")
def style_models(stats_style_model, text_model) -> Models:
    return Models(stats_style_model, text_model)


@pytest.fixture
def style_client(tmp_path, monkeypatch, style_models):
    """A studio whose model has a style input, adapting in 3 steps, saving under tmp_path."""
    monkeypatch.setenv("HANDWRITER_DATA_DIR", str(tmp_path))
    with TestClient(create_app(StudioConfig(), style_models, AdaptConfig(steps=3))) as c:
        yield c


def hand_lines(models: Models, texts: list[str]) -> list[dict]:
    """Lines in the page's JSON, written by the model (as if drawn)."""
    inks = write_page(models.synthesis, texts, SampleConfig(seed=2, bias=2.0, max_points=300,
                      candidates=1))
    return [{"strokes": ink.strokes.tolist(), "text": text} for ink, text
            in zip(inks, texts, strict=True)]


def test_three_drawn_lines_are_adapted_to_with_progress_then_saved_and_written_in(
        style_client, style_models, tmp_path):
    from handwriter.styles import load_style, load_style_weights

    assert style_client.get("/api/styles").json()["adapt_from"] == 3
    lines = hand_lines(style_models, ["my hand", "ab cd", "the end"])
    evs = events(style_client.post("/api/adapt", json={"name": "hand", "lines": lines}))
    shares = [e["share"] for e in evs if e["type"] == "progress"]
    assert shares == sorted(shares) and shares[0] == 0 and shares[-1] == 1 and len(shares) == 4
    assert evs[-1]["type"] == "saved" and evs[-1]["name"] == "hand"
    assert evs[-1]["saved"] == ["hand"] and "adapted in" in evs[-1]["summary"]
    assert style_client.get("/api/styles").json()["adapted"] == ["hand"]  # it has no strength
    assert sorted(p.name for p in (tmp_path / "styles").iterdir()) == ["hand.inkml", "hand.pt"]
    saved = load_style_weights("hand")["style"]
    expected = adapt(style_models.synthesis, load_style("hand"), AdaptConfig(steps=3)).style
    torch.testing.assert_close(saved, expected)
    assert not torch.allclose(saved, style_models.synthesis.style_of(load_style("hand")))
    writer, primer, _ = style_models.style("hand")  # the page writes with the fitted style
    assert primer is None
    torch.testing.assert_close(writer.style, saved)
    written = events(style_client.post("/api/write", json={"mode": "write", "text": "hi",
                                                           "style": "hand", "drafts": 1}))
    assert written[-1] == {"type": "done"} and len(strokes_of(written)) > 0


def test_adapting_refuses_too_few_lines_a_model_without_a_style_input_and_bad_styles(
        style_client, style_models, client, models):
    lines = hand_lines(style_models, ["my hand", "ab cd", "the end"])
    for body, message in [({"name": "hand", "lines": lines[:2]}, "adapting needs 3 lines"),
                          ({"name": "../up", "lines": lines}, "style name"),
                          ({"lines": lines}, "the style needs a name"),
                          ({"name": "hand", "lines": [*lines[:2], {**lines[2], "text": " "}]},
                           "line 3 needs the text")]:
        response = style_client.post("/api/adapt", json=body)
        assert response.status_code == 400 and message in response.json()["error"], body
    assert style_client.get("/api/styles").json()["saved"] == []
    assert client.get("/api/styles").json()["adapt_from"] is None
    response = client.post("/api/adapt", json={"name": "hand", "lines": hand_lines(
        models, ["my hand", "ab cd", "the end"])})
    assert response.status_code == 400 and "no style input" in response.json()["error"]


def test_an_adaptation_that_fails_or_is_cancelled_saves_nothing(style_client, style_models,
                                                                 tmp_path, monkeypatch):

    lines = hand_lines(style_models, ["my hand", "ab cd", "the end"])
    monkeypatch.setattr("handwriter.adapt.adapt",
                        lambda *a: (_ for _ in ()).throw(ValueError("no luck")))
    evs = events(style_client.post("/api/adapt", json={"name": "hand", "lines": lines}))
    assert evs[-1] == {"type": "error", "error": "no luck"}
    monkeypatch.undo()
    inks = [Ink(np.array(line["strokes"]), text=line["text"]) for line in lines]
    cancelled = threading.Event()
    with pytest.raises(Cancelled):  # the page went away after the first step
        adapt_and_save(style_models, "hand", inks, AdaptConfig(steps=3),
                       lambda share: cancelled.set(), cancelled)

    def full(name, tensors):
        raise OSError("the disk is full")
    monkeypatch.setattr("handwriter.adapt.save_style_weights", full)
    with pytest.raises(OSError):  # the ink saved first is taken back
        adapt_and_save(style_models, "hand", inks, AdaptConfig(steps=3), lambda share: None,
                       threading.Event())
    assert not (tmp_path / "styles").exists() or not any((tmp_path / "styles").iterdir())


def test_adaptations_beyond_the_queue_are_told_to_come_back(style_models, monkeypatch):
    from handwriter.studio import app

    monkeypatch.setattr(app, "MAX_ADAPT_WAITING", 0)  # no room at all: the first is refused
    with TestClient(create_app(StudioConfig(), style_models, AdaptConfig(steps=1))) as c:
        lines = hand_lines(style_models, ["my hand", "ab cd", "the end"])
        response = c.post("/api/adapt", json={"name": "hand", "lines": lines})
    assert response.status_code == 503 and "try again" in response.json()["error"]


def test_the_gate_runs_a_bounded_number_and_queues_the_rest_in_order():
    async def scenario():
        gate = Gate(slots=1, max_waiting=2)
        first, second = gate.join(), gate.join()
        with pytest.raises(Busy):
            gate.join()
        assert [p async for p in gate.turn(first)] == []
        places = []

        async def wait_second():
            async for place in gate.turn(second):
                places.append(place)
        waiting = asyncio.create_task(wait_second())
        await asyncio.sleep(0.01)
        assert places == [1] and not waiting.done()
        gate.leave(first)
        await asyncio.wait_for(waiting, 1)
        assert gate.running == 1 and not gate.waiting
        gate.leave(second)
        assert gate.running == 0
    asyncio.run(scenario())


def test_a_dropped_connection_stops_its_generation(studio_url, models, monkeypatch):
    monkeypatch.setattr(live, "CHUNK", 1)  # a point per event: the page takes many
    job = {"mode": "sample", "lines": 6, "seed": 3}
    whole = sum(e["type"] == "points" for e in live.page_events(models, live.parse_job(
        job, models, 100)))
    chunks = []
    draw = live.draw
    monkeypatch.setattr(live, "draw", lambda *a, **k: chunks.append(1) or draw(*a, **k))
    request = urllib.request.Request(f"{studio_url}/api/write", method="POST", data=json.dumps(
        job).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.readline()[6:])["type"] == "start"
        response.readline()
        response.readline()
    time.sleep(1.0)
    stopped_at = len(chunks)
    time.sleep(0.5)
    assert len(chunks) == stopped_at < whole / 2
    assert threading.active_count() < 20


def test_serve_binds_loopback_unless_told_otherwise(monkeypatch):
    import uvicorn

    from handwriter.cli import main

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    calls = []  # the address each server was given, bound and held before it runs

    def run(server, sockets):
        calls.append(sockets[0].getsockname())
        sockets[0].close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    ports = free_port(), free_port()
    assert main(["serve", "--port", str(ports[0])]) == 0
    assert main(["serve", "--host", "0.0.0.0", "--port", str(ports[1]), "--max-active", "2"]) == 0
    assert calls == [("127.0.0.1", ports[0]), ("0.0.0.0", ports[1])]
    with socket.socket() as taken:  # a port in use is a one-line error, said before the address
        taken.bind(("127.0.0.1", ports[0]))
        taken.listen()
        assert main(["serve", "--port", str(ports[0])]) == 2
