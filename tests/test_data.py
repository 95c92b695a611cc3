import numpy as np
import pytest
import torch

from handwriter.data import (
    START,
    STATISTICS,
    LineSet,
    build_alphabet,
    clip_jumps,
    collate,
    collate_primed,
    deskew,
    distort,
    encode_text,
    join_lines,
    leaned,
    line_statistics,
    offset_scale_of,
    pair_lines,
    prepare,
    resample,
    robust_height,
    slant_of,
    writer_split,
)
from handwriter.ink import Ink, offsets_to_points, split_strokes

# An L (arc 15), a short bar (arc 3.5) and a lone dot, in absolute coordinates.
POLYLINE = [np.array([[0, 0], [4, 0], [10, 0], [10, 5]], float),
            np.array([[20, 0], [20, 2], [20, 3.5]], float),
            np.array([[25, 1]], float)]


def test_resample_spaces_points_evenly_and_keeps_strokes():
    ink = Ink.from_stroke_list(POLYLINE)
    out = resample(ink.strokes, step=1.0)
    assert out.dtype == np.float32
    strokes = split_strokes(out)
    assert [len(s) for s in strokes] == [16, 5, 1]  # round(arc / step) + 1 points
    for new, old in zip(strokes, POLYLINE, strict=True):
        np.testing.assert_allclose(new[0], old[0], atol=1e-5)   # stroke ends stay put
        np.testing.assert_allclose(new[-1], old[-1], atol=1e-5)
    # Pen lifts only at each stroke's last point.
    np.testing.assert_array_equal(np.flatnonzero(out[:, 2]), [15, 20, 21])
    # Along the pen's path every gap is one step (the L's corner is a sample point).
    np.testing.assert_allclose(np.hypot(*np.diff(strokes[0], axis=0).T), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.hypot(*np.diff(strokes[1], axis=0).T), 3.5 / 4, atol=1e-5)
    # The pen-up move between strokes is kept as it was.
    np.testing.assert_allclose(out[16, :2], [10, -5], atol=1e-5)
    # A step that does not divide the arc: as near as whole gaps allow (3.5 = 12 x 0.2917).
    fine = split_strokes(resample(ink.strokes, step=0.3))
    assert [len(s) for s in fine] == [51, 13, 1]
    np.testing.assert_allclose(np.hypot(*np.diff(fine[1], axis=0).T), 3.5 / 12, atol=1e-5)
    chords = np.hypot(*np.diff(fine[0], axis=0).T)  # one chord cuts the L's corner
    assert np.sum(np.abs(chords - 0.3) < 1e-5) == 49 and np.all(chords < 0.3 + 1e-5)


def test_robust_height():
    dy = np.ones(101)
    dy[0] = 0
    strokes = np.stack([np.arange(101.0), dy, np.zeros(101)], 1)  # y = 0, 1, ..., 100
    assert robust_height(strokes) == pytest.approx(80.0)
    spiky = strokes.copy()
    spiky[50, 1] += 1000  # a stray point, then back
    spiky[51, 1] -= 1000
    assert robust_height(spiky) == pytest.approx(81.0)
    assert robust_height(np.zeros((0, 3))) == 0.0


def test_clip_jumps_shortens_only_long_offsets():
    strokes = np.array([[3, 4, 0], [30, 40, 1], [-60, 80, 0], [0, 0, 1]], np.float32)
    out = clip_jumps(strokes, max_jump=10)
    np.testing.assert_allclose(out, [[3, 4, 0], [6, 8, 1], [-6, 8, 0], [0, 0, 1]], atol=1e-6)
    assert strokes[1, 0] == 30  # the input is left alone


def wave_ink(scale: float = 1.0, jump: float = 0.0) -> Ink:
    t = np.linspace(0, 4 * np.pi, 60)
    a = np.stack([t, np.sin(t)], 1) * scale
    b = np.stack([t + 14 + jump, np.cos(t)], 1) * scale
    return Ink.from_stroke_list([a, b], text="wave")


def test_prepare_measures_in_line_heights():
    ink = wave_ink(scale=37.0)
    level = deskew(ink.strokes)
    kept = prepare(ink, resample_step=0)
    np.testing.assert_allclose(kept[:, :2], level[1:, :2] / robust_height(level), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(kept[:, 2], ink.strokes[1:, 2])
    # Units follow the writing, not the tablet: any scale gives the same line.
    np.testing.assert_allclose(prepare(wave_ink(37.0)), prepare(wave_ink(1.0)), atol=1e-4)
    # Resampled at 0.1 line heights along the pen.
    out = prepare(ink, resample_step=0.1)
    assert out.dtype == np.float32
    gaps = np.hypot(*np.diff(offsets_to_points(out), axis=0).T)
    assert np.median(gaps) == pytest.approx(0.1, rel=0.05)
    assert out[:, 2].sum() == 2 and out[-1, 2] == 1
    # A far pen-up jump is cut to max_jump line heights.
    far = prepare(wave_ink(jump=200.0), max_jump=8.0)
    assert np.hypot(far[:, 0], far[:, 1]).max() == pytest.approx(8.0, rel=1e-5)
    # No height (a flat line) or a single point: nothing to learn.
    assert prepare(Ink(np.array([[0, 0, 0], [5, 0, 0], [5, 0, 1]]))) is None
    assert prepare(Ink(np.array([[1, 2, 1]]))) is None


def test_deskew_levels_a_sloping_line_and_prepare_ignores_the_slope():
    ink = wave_ink(scale=10.0)
    angle = np.radians(12)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    sloped = Ink(np.column_stack([ink.strokes[:, :2] @ rotation.T, ink.strokes[:, 2]]))
    points = offsets_to_points(deskew(sloped.strokes))
    assert abs(np.polyfit(points[:, 0], points[:, 1], 1)[0]) < 1e-6
    assert robust_height(deskew(sloped.strokes)) < 0.8 * robust_height(sloped.strokes)
    np.testing.assert_allclose(prepare(sloped, resample_step=0), prepare(ink, resample_step=0),
                               atol=1e-4)


def test_slant_measures_a_shear_and_leaned_puts_one_on():
    # twenty upright bars, each a stroke drawn upwards, then the pen moves to the next one
    bar = np.c_[np.zeros(20), np.full(20, 0.05), np.zeros(20)]
    bar[-1, 2] = 1
    upright = np.concatenate([np.r_[[[1.0, -0.95, 0.0]], bar] for _ in range(20)])
    assert slant_of(upright) == pytest.approx(0.0)
    sheared = upright.copy()
    sheared[:, 0] += 0.2 * sheared[:, 1]
    assert slant_of(sheared) == pytest.approx(0.2)
    assert line_statistics(sheared)[STATISTICS.index("slant")] == slant_of(sheared)
    assert slant_of(leaned(sheared, 0.0)) == pytest.approx(0.0, abs=1e-3)
    assert slant_of(leaned(upright, -0.1)) == pytest.approx(-0.1, abs=1e-3)
    assert slant_of(leaned(upright, 0.9, most=0.3)) == pytest.approx(0.3, abs=1e-3)
    dot = upright[:5]
    assert slant_of(dot) is None and leaned(dot, 0.3) is dot


@pytest.mark.parametrize("sense", [1, -1], ids=["counter-clockwise", "clockwise"])
def test_the_shape_measurements_of_circles(sense):
    # four circles of radius 1, each a stroke from its rightmost point: every heading alike,
    # one turning sense, two vertical turns each, a constant turn per resampled step
    angle = np.linspace(0, 2 * np.pi, 400)
    circle = np.c_[np.cos(angle), sense * np.sin(angle)]
    points = np.concatenate([circle + [3 * k, 0] for k in range(4)])
    strokes = np.c_[np.diff(points, axis=0, prepend=[[1, 0]]), np.zeros(len(points))]
    strokes[399::400, 2] = 1
    height = robust_height(strokes)
    stats = line_statistics(strokes, shape=True)
    np.testing.assert_array_equal(stats[:12], line_statistics(strokes))
    compass, turns, turning_sense, vertical = stats[12:20], stats[20:23], stats[23], stats[24]
    np.testing.assert_allclose(compass, 1 / 8, atol=0.015)  # 66 steps a circle, 8 bins
    np.testing.assert_allclose(turns, 0.05 * height, rtol=0.02)  # step / radius
    assert turning_sense == pytest.approx(sense, abs=0.02)
    assert vertical == pytest.approx(4 * 2 / (11 / height), rel=0.02)


def test_writer_split_is_stable_disjoint_and_proportional():
    writers = [f"writer-{i}" for i in range(6000)]
    splits = [writer_split(w, valid_percent=10, test_percent=20) for w in writers]
    assert splits == [writer_split(w, 10, 20) for w in writers]  # deterministic
    assert writer_split("a01-000") == writer_split("a01-000")
    fractions = {s: splits.count(s) / len(splits) for s in ("train", "valid", "test")}
    assert fractions["valid"] == pytest.approx(0.10, abs=0.015)
    assert fractions["test"] == pytest.approx(0.20, abs=0.015)
    assert fractions["train"] == pytest.approx(0.70, abs=0.015)
    assert {writer_split(w, 0, 0) for w in writers[:200]} == {"train"}
    # Pinned values (CRC-32 of the UTF-8 id, mod 100), so a dataset's split never drifts.
    assert [writer_split(w) for w in ("w0", "w7", "w40", "w89")] == [
        "train", "valid", "test", "test"]
    assert [writer_split(w, 10, 20) for w in ("w1", "w4", "w25", "w7")] == [
        "train", "test", "valid", "test"]


def test_alphabet_and_encoding():
    texts = ["abc", "aab", "z", "b a"]
    assert build_alphabet(texts, min_count=2) == "ab"
    assert build_alphabet(texts, min_count=1) == " abcz"
    np.testing.assert_array_equal(encode_text("abz?", "ab"), [1, 2, 0, 0])
    assert encode_text("", "ab").dtype == np.int64


def lines_of(lengths):
    """Lines whose every row holds the line's id in dx, so a batch says who it drew."""
    return [np.tile([[i + 1, 0.5, 0]], (n, 1)).astype(np.float32) for i, n in enumerate(lengths)]


def test_collate_pads_and_adds_a_start_token():
    a = np.array([[1, 2, 0], [3, 4, 1]], np.float32)
    b = np.array([[5, 6, 1]], np.float32)
    batch = collate([a, b], [np.array([1, 2, 3]), np.array([4])], offset_scale=2.0)
    assert batch.strokes_in.shape == batch.strokes_out.shape == (2, 2, 3)
    np.testing.assert_array_equal(batch.strokes_in[:, 0], np.repeat(START, 2, 0))
    np.testing.assert_array_equal(batch.strokes_out[0], [[0.5, 1, 0], [1.5, 2, 1]])
    np.testing.assert_array_equal(batch.strokes_in[0, 1], [0.5, 1, 0])  # teacher forcing
    np.testing.assert_array_equal(batch.strokes_out[1, 0], [2.5, 3, 1])
    np.testing.assert_array_equal(batch.mask, [[1, 1], [1, 0]])
    np.testing.assert_array_equal(batch.text, [[1, 2, 3], [4, 0, 0]])
    np.testing.assert_array_equal(batch.text_mask, [[1, 1, 1], [1, 0, 0]])
    assert collate([a]).text is None
    assert collate([a], [np.array([], np.int64)]).text.shape == (1, 1)


def test_lineset_crops_long_lines_without_text():
    lengths = [40, 5, 30, 10, 25, 15, 20]
    ls = LineSet(lines_of(lengths))
    assert list(ls.lengths) == sorted(lengths)
    rng = np.random.default_rng(0)
    drawn = set()
    for _ in range(100):
        batch = ls.sample(rng, batch_size=3, max_points=12, offset_scale=0.5, crop=True)
        assert batch.strokes_out.shape[0] == 3 and batch.strokes_out.shape[1] <= 12
        assert batch.text is None
        for row, mask in zip(batch.strokes_out, batch.mask, strict=True):
            n = int(mask.sum())
            ids = row[:n, 0] * 0.5
            assert len(set(ids.tolist())) == 1  # one line, contiguous rows
            line = int(ids[0])
            drawn.add(line)
            assert n == min(lengths[line - 1], 12)
            assert (row[n:] == 0).all()
            np.testing.assert_allclose(row[:n, 1], 1.0)  # 0.5 / offset_scale
    assert drawn == set(range(1, 8))  # long lines are drawn too, cropped


def test_lineset_never_draws_long_lines_with_text():
    lengths = [40, 5, 30, 10, 25, 15, 20]
    texts = [np.full(i + 1, i + 1) for i in range(len(lengths))]  # text i+1 repeated i+1 times
    ls = LineSet(lines_of(lengths), texts)
    rng = np.random.default_rng(1)
    drawn = set()
    for _ in range(100):
        batch = ls.sample(rng, batch_size=2, max_points=20, offset_scale=1.0, crop=False)
        for row, mask, text, text_mask in zip(batch.strokes_out, batch.mask, batch.text,
                                              batch.text_mask, strict=True):
            line = int(row[0, 0])
            drawn.add(line)
            assert int(mask.sum()) == lengths[line - 1]  # whole, never cropped
            assert int(text_mask.sum()) == line and set(text[:line].tolist()) == {line}
    assert drawn == {2, 4, 6, 7}  # exactly the lines of 20 points or fewer
    # Nothing short enough: the shortest line is drawn whole, its text still matching.
    batch = ls.sample(rng, batch_size=2, max_points=3, offset_scale=1.0, crop=False)
    assert batch.mask.shape == (1, 5) and int(batch.mask.sum()) == 5


def test_distort_slants_and_stretches_each_line_within_bounds():
    rng = np.random.default_rng(0)
    line = np.array([[1, 0, 0], [0, 1, 0], [0.5, -0.5, 1]], np.float32)
    seen = set()
    for _ in range(50):
        out = distort(line, rng, 0.2)
        sx, sy = out[0, 0], out[1, 1]                 # the unit x and y moves, stretched
        shear = out[1, 0] / sx                        # and x gained shear * y
        assert np.exp(-0.2) <= sx <= np.exp(0.2) and np.exp(-0.2) <= sy <= np.exp(0.2)
        assert abs(shear) <= 0.2
        np.testing.assert_allclose(out[2, :2], [sx * (0.5 - 0.5 * shear), -0.5 * sy], rtol=1e-5)
        np.testing.assert_array_equal(out[:, 2], line[:, 2])  # pen lifts untouched
        seen.add(round(float(shear), 6))
    assert len(seen) == 50
    np.testing.assert_array_equal(distort(line, rng, 0.0), line)


def test_lineset_distorts_only_when_asked():
    ls = LineSet(lines_of([5, 6]))
    plain = ls.sample(np.random.default_rng(3), 2, 10, 1.0, crop=False)
    again = ls.sample(np.random.default_rng(3), 2, 10, 1.0, crop=False, distortion=0.0)
    bent = ls.sample(np.random.default_rng(3), 2, 10, 1.0, crop=False, distortion=0.3)
    torch.testing.assert_close(plain.strokes_out, again.strokes_out)
    assert not torch.allclose(plain.strokes_out, bent.strokes_out)
    torch.testing.assert_close(plain.mask, bent.mask)


def test_in_batches_covers_every_line_once_and_offset_scale():
    lengths = [7, 3, 9, 1, 4]
    ls = LineSet(lines_of(lengths))
    seen = [int(row[0, 0]) for batch in ls.in_batches(2, 1.0) for row in batch.strokes_out]
    assert sorted(seen) == [1, 2, 3, 4, 5]
    assert sum(int(b.mask.sum()) for b in ls.in_batches(2, 1.0)) == sum(lengths)
    lines = [np.array([[1, -1, 0], [3, 1, 1]], np.float32)]
    assert offset_scale_of(lines) == pytest.approx(np.std([1, -1, 3, 1]))


def test_join_lines_writes_the_second_line_on_after_the_first_and_level():
    first = np.array([[1, 0, 0], [1, 0, 1]], np.float32)   # the pen at (1, 0), (2, 0)
    second = np.array([[0, 1, 0], [0, 1, 1]], np.float32)  # (0, 1), (0, 2) from its start
    joined = join_lines(first, second, gap=1.0)
    np.testing.assert_allclose(joined[2], [1, -1.5, 0])     # one pen-up move to the start
    points = np.cumsum(joined[:, :2], axis=0)
    np.testing.assert_allclose(points[3:], [[3, -0.5], [3, 0.5]])  # right of 2 by the gap
    assert np.median(points[3:, 1]) == np.median(points[:2, 1])      # level with the first
    np.testing.assert_array_equal(joined[:, 2], [0, 1, 0, 0, 1])


def test_collate_primed_scores_only_the_line_after_its_primer():
    primer, line = np.ones((3, 3), np.float32), np.full((2, 3), 2, np.float32)
    batch = collate_primed([((primer, "ab"), (line, "c")), (None, (line, "c"))], "abc", 2.0)
    np.testing.assert_array_equal(batch.mask, [[0, 0, 0, 0, 1, 1], [1, 1, 0, 0, 0, 0]])
    np.testing.assert_allclose(batch.strokes_out[0], join_lines(primer, line) / [2, 2, 1])
    np.testing.assert_array_equal(batch.text, [[1, 2, 0, 3], [3, 0, 0, 0]])  # "ab c", "c"


def test_pair_lines_pairs_each_writers_lines_once():
    line = lambda n: np.tile(np.array([[1, 0, 0]], np.float32), (n, 1))  # noqa: E731
    lines = [(line(2), "a", "w1"), (line(3), "b", "w1"), (line(4), "c", "w1"),
             (line(5), "d", "w2"), (line(6), "e", ""), (line(7), "f", "")]
    pairs = pair_lines(lines, np.random.default_rng(0))
    assert len(pairs) == 1  # w1's third line and w2's one are left alone; no writer, no pair
    strokes, text, writer = pairs[0]
    assert writer == "w1" and sorted(text.split()) in (["a", "b"], ["a", "c"], ["b", "c"])
    lengths = {"a": 2, "b": 3, "c": 4}
    assert len(strokes) == sum(lengths[t] for t in text.split()) + 1


def test_style_primers_are_other_lines_of_the_same_writer():
    strokes = [np.full((n, 3), n, np.float32) for n in (5, 9, 7, 3, 8)]
    writers = ["a", "b", "a", "c", "a"]
    lines = LineSet(strokes, writers=writers, primer_points=6)
    writer_of = {len(s): w for s, w in zip(strokes, writers, strict=True)}
    rng = np.random.default_rng(0)
    for i, line in enumerate(lines.strokes):
        primers = [lines.primer(i, rng) for _ in range(20)] + [lines.primer(i, None)]
        if writer_of[len(line)] != "a":  # b and c wrote one line: no primer
            assert all(p is None for p in primers)
            continue
        sources = {int(p[0, 0]) for p in primers}  # each point holds its line's length
        assert sources == {5, 7, 8} - {len(line)}  # never the line itself
        assert all(len(p) == min(6, s) for p, s in zip(primers, [int(p[0, 0]) for p in primers],
                                                       strict=True))
    batch = lines.sample(rng, 5, 100, 2.0, crop=False, style_dropout=0.0)
    assert batch.primer.shape == (5, 6, 3) and batch.primer[..., :2].max() == 8 / 2
    # by length: 3 (c), 5, 7, 8 (a), 9 (b); only a's lines have primers
    primed = batch.primer_mask.sum(1)
    assert primed[[0, 4]].tolist() == [0, 0] and all(5 <= n <= 6 for n in primed[1:4])
    assert batch.writer.tolist() == [-1, 0, 0, 0, -1]  # a, b, c numbered 0, 1, 2
    dropped = lines.sample(rng, 5, 100, 2.0, crop=False, style_dropout=1.0)
    assert dropped.primer_mask.sum() == 0
    evaluation = list(lines.in_batches(2, 1.0))
    assert [b.primer_mask.shape[0] for b in evaluation] == [2, 2, 1]
