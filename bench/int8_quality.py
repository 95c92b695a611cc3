"""What int8 products cost in likelihood: validation lines scored through fp32 and int8 steps.

    python bench/int8_quality.py [--data ../shared/data/unipen/lines.npz] [--lines 40]

Each line is teacher-forced one point at a time through a `LinePen` (batch 1, as `generate`
steps a line) whose sampler has float32 or int8 products, and scored in nats per point
like `handwriter eval` (offsets unscaled). Lines: `--lines` spread evenly over the
writer-disjoint validation split, the synthesis lines (a transcription, up to
`--max-points` points), the same lines for both shipped models.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
import torch.nn.functional as F

from handwriter.data import START, encode_text
from handwriter.model import mixture_log_density, split_mixture
from handwriter.sample import LinePen, Sampler, Writer
from handwriter.train import TrainConfig, load_splits


@torch.inference_mode()
def line_log_density(writer: Writer, sampler: Sampler, strokes: np.ndarray, text: str
                     ) -> float:
    """log p of one prepared line's scaled offsets, stepping a LinePen through it: nats."""
    net = writer.net
    chars = None
    if net.text_size:
        chars = F.one_hot(torch.from_numpy(encode_text(text, net.cfg.alphabet)),
                          net.text_size).float()
    target = strokes.copy()
    target[:, :2] /= writer.offset_scale
    pen = LinePen(sampler, net.initial_state(1))
    raws = []
    for point in [START, *target[:-1]]:
        raw, _ = pen.step(point, chars)
        raws.append(raw.copy())
    mix = split_mixture(torch.from_numpy(np.stack(raws)))
    return float(mixture_log_density(mix, torch.from_numpy(target)).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/unipen/lines.npz")
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--max-points", type=int, default=700)
    args = parser.parse_args()
    torch.set_num_threads(1)
    valid = load_splits(TrainConfig(data=args.data, synthesis=True, max_points=args.max_points),
                        "valid")["valid"]
    lines = [valid[i] for i in np.linspace(0, len(valid) - 1, args.lines).astype(int)]
    points = sum(len(s) for s, _, _ in lines)
    print(f"{len(lines)} validation lines, {points} points; nats per point, lower is better\n")
    print("| model | fp32 | int8 | int8 - fp32 | line with the largest change (nats/point) |")
    print("|---|---:|---:|---:|---:|")
    for name, writer in [("unconditional (shipped)", Writer.load()),
                         ("synthesis (shipped)", Writer.load(synthesis=True))]:
        unscale = 2 * math.log(writer.offset_scale)  # density of unscaled offsets
        fp32, int8 = (np.array([-line_log_density(writer, sampler, s, t) / len(s) + unscale
                                for s, t, _ in lines])
                      for sampler in (writer.sampler, writer.int8_sampler))  # per line
        worst = np.abs(int8 - fp32).max()
        fp32, int8 = (np.average(v, weights=[len(s) for s, _, _ in lines]) for v in (fp32, int8))
        print(f"| {name} | {fp32:.4f} | {int8:.4f} | {int8 - fp32:+.4f} | {worst:.4f} |",
              flush=True)


if __name__ == "__main__":
    main()
