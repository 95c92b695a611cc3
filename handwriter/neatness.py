"""Neat hands: the direction in style space along which the network writes less legibly.

A style table (`--writer-styles`) holds a learnt style for each training writer. Written in
each, the same sentences read well or badly by hand, and how badly is nearly linear in the
style's numbers: one direction tells a fast scrawl from a tidy hand. `fit_neatness` finds
it with the shipped reader; `Writer.styled` then moves a style that lies further along it
than `LIMIT` (a little neater than no particular hand) back to it, and leaves the rest of
the hand as it is.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from .reader import InkReader
from .sample import WRITING, Writer
from .writing import write_page

# How far along the direction a style may lie, in log nats per character predicted beyond no
# style's: a little neater than no style costs little of the hand and reads better
# (docs/HISTORY.md, "Neat hands").
LIMIT = -0.15
# Ordinary sentences of everyday length, none from the training transcriptions.
SENTENCES = [
    "Dear Anna, the garden is full of roses",
    "Call me when you get to the hotel",
    "Seven green apples and a jar of honey",
    "Our train leaves at ten past four",
    "I found your old letters in the attic",
    "Bring a warm coat, it will be cold",
    "The meeting moved to Thursday morning",
    "Lots of love to you and the children",
]


def style_costs(writer: Writer, reader: InkReader, styles: Tensor, seeds: int = 2,
                bias: float = WRITING.bias) -> np.ndarray:
    """Per style (N, S): the reader's mean nats per character of SENTENCES written in it,
    one draft each (no picking, so a hard hand shows), over `seeds` pages."""
    costs = np.zeros(len(styles))
    for k in tqdm(range(len(styles)), desc="styles", unit="style"):
        styled = writer.styled(styles[k], neat=False)
        for seed in range(seeds):
            page = write_page(styled, SENTENCES, replace(WRITING, seed=seed, bias=bias,
                                                         candidates=1))
            costs[k] += reader.nats_per_char(page, SENTENCES).mean() / seeds
    return costs


def fit_neatness(styles: Tensor, costs: np.ndarray, ridge: float = 1.0
                 ) -> tuple[Tensor, float]:
    """The direction d (S,) of a ridge regression of log `costs` on `styles`, and the
    leave-one-out correlation of its predictions with them: how well one direction says it."""
    X = np.c_[styles.double().numpy(), np.ones(len(styles))]
    y = np.log(costs)
    penalty = ridge * np.eye(X.shape[1])
    coef = np.linalg.solve(X.T @ X + penalty, X.T @ y)
    held_out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        held_out[i] = X[i] @ np.linalg.solve(X[keep].T @ X[keep] + penalty,
                                             X[keep].T @ y[keep])
    return torch.tensor(coef[:-1], dtype=torch.float32), float(np.corrcoef(held_out, y)[0, 1])


def neatness_of(writer: Writer, reader: InkReader, seeds: int = 2) -> dict:
    """What `handwriter export --neatness` stores in a checkpoint: the direction fitted on
    the training writers' learnt styles, its `LIMIT`, and how well it predicts legibility."""
    table = writer.style_net.style_encoder.table if writer.style_net is not None else None
    if table is None:
        raise ValueError("this model has no learnt styles of training writers "
                         "(train it with --writer-styles)")
    styles = torch.tanh(table.weight.detach())
    costs = style_costs(writer, reader, styles, seeds)
    direction, fit = fit_neatness(styles, costs)
    return {"direction": direction, "limit": LIMIT, "fit": fit, "styles": len(styles)}
