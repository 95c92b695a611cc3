"""Training and evaluation: a plain loop, atomic checkpoints, exact resume, honest NLL.

Likelihoods are reported in nats of the preprocessed ink, in units of each line's robust
height (see `data.prepare`), so models trained with a different `offset_scale` compare.
"""

from __future__ import annotations

import csv
import math
import os
import signal
import time
import warnings
import zlib
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from .data import (
    MODEL_UNITS,
    PRIMER_POINTS,
    Batch,
    LineSet,
    build_alphabet,
    encode_text,
    offset_scale_of,
    pad_primers,
    pair_lines,
    prepare,
    writer_split,
)
from .ink import Ink, InkError, atomic_write, read_ink
from .model import (
    CHECKPOINT_VERSION,
    HandwritingNet,
    ModelConfig,
    State,
    load_checkpoint,
    mixture_nll,
    split_mixture,
    widen,
)


@dataclass
class TrainConfig:
    data: str = ""               # lines.npz to train on (see `handwriter data convert`);
                                 # needed unless --resume (default: none)
    out: str = "runs/handwriter"  # run directory: checkpoints, log.csv, loss.png
    synthesis: bool = False      # condition on the transcription (Graves section 5)
    steps: int = 20000           # optimiser steps in all (a resumed run continues to this)
    batch_size: int = 32         # lines per step
    max_points: int = 2000       # longer lines are cropped (synthesis: skipped)
    chunk: int = 400             # backprop through this many points at a time, the LSTM
                                 # state carried on (truncated BPTT); 0 = whole lines
    optimizer: str = "adam"      # adam | rmsprop-graves (Graves eqs. 38-41, lr 1e-4)
    lr: float = 1e-3             # learning rate (decays by 10x over the run, cosine)
    grad_clip: float = 3.0       # clip the global gradient norm; 0 = off
    derivative_clip: bool = False  # Graves: output grads to +-100, LSTM grads to +-10
    curriculum_steps: int = 0    # synthesis: grow the longest line drawn over these steps
    eval_every: int = 500        # validate every N steps
    checkpoint_every: int = 200  # write last.pt every N steps
    seed: int = 0                # batches, initial weights
    threads: int = 0             # torch threads; 0 = all cores
    resample_step: float = 0.2   # pen distance between points, in line heights; 0 = keep
    max_jump: float = 8.0        # offsets longer than this (line heights) are shortened
    valid_percent: int = 5       # writers held out for validation (by hash of writer id)
    test_percent: int = 5        # writers held out for testing
    min_char_count: int = 20     # rarer characters map to "unknown"
    max_points_per_char: float = 40.0  # synthesis: skip lines whose ink misses its text
    pairs: bool = False          # synthesis: also two lines of one writer in a row, texts
                                 # joined (the model learns to carry on a primer's hand)
    init: str = ""               # start from this checkpoint's weights and shapes (fresh
                                 # optimiser) (default: none: random weights)
    precision: str = "fp32"      # fp32 | bf16: matmuls in bfloat16 (weights, loss stay fp32)
    distortion: float = 0.0      # random slant and stretch of training lines (see data.distort)
    average: float = 0.0         # validate and keep best.pt with a moving average of the
                                 # weights, keeping this much per step (e.g. 0.999); 0 = off
    style_dropout: float = 0.2   # with --style-size: share of lines trained with no style
    style_id_weight: float = 0.1  # with --style-size: weight of naming the primer's writer
                                 # from its style (nats), which keeps the style a writer's
    style_lr_scale: float = 10.0  # the style encoder learns this much faster (it is new)
    writer_styles: bool = False  # with a style input: each training writer's lines train in
                                 # a learnt style of the writer's own, started from the
                                 # reading of their lines, which learns to predict it
    style_noise: float = 0.0     # with --writer-styles: Gaussian noise added to each line's
                                 # learnt style (before tanh), this share of the styles'
                                 # spread in each number, so that the network writes well
                                 # near a hand, where a fit from a few lines lands

    def __post_init__(self) -> None:
        """Counts that must be positive, named as their flags are."""
        for name in ("steps", "batch_size", "max_points", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got "
                                 f"{getattr(self, name)}")


# ---------------------------------------------------------------- data


def load_splits(cfg: TrainConfig, *splits: str) -> dict[str, list]:
    """Prepared `(strokes, text, writer)` of each named writer-disjoint split, in one read.

    The split "all" is every line of the file, in any format `read_ink` takes.
    """
    if not Path(cfg.data).exists():
        raise FileNotFoundError(f"{cfg.data}: no such data file")
    inks = read_ink(cfg.data)
    out = {split: [] for split in splits}
    held = held_out(cfg, [ink.writer or ink.source for ink in inks], splits)
    for ink, split in zip(inks, held, strict=True):
        if split not in out:
            continue
        strokes = prepare(ink, cfg.resample_step, cfg.max_jump)
        if strokes is not None:
            out[split].append((strokes, ink.text, ink.writer))
    if cfg.synthesis:  # ink that matches its text, paired, then short enough
        out = {split: [(s, t, w) for s, t, w in lines
                       if len(t) > 0 and len(s) <= cfg.max_points_per_char * len(t)]
               for split, lines in out.items()}
    if cfg.pairs and "train" in out:
        out["train"] += pair_lines(out["train"], np.random.default_rng(cfg.seed))
    if cfg.synthesis:
        out = {split: [line for line in lines if len(line[0]) <= cfg.max_points]
               for split, lines in out.items()}
    for split, lines in out.items():
        if not lines:
            raise InkError(cfg.data, None, f"no usable lines in the {split!r} split"
                           + (" (a synthesis model needs each line's text, and lines of at "
                              "most --max-points points)" if cfg.synthesis else ""))
    return out


def held_out(cfg: TrainConfig, writers: list[str], splits: tuple[str, ...]) -> list[str]:
    """Each line's split: by a hash of its writer, so that validation is on writers never
    trained on; with too few writers for training and validation to get one each (one
    person's ink), by line, said in a warning. Decided by the data alone, so that every
    command splits it alike."""
    if "all" in splits:
        return ["all"] * len(writers)
    held = [writer_split(w, cfg.valid_percent, cfg.test_percent) for w in writers]
    if {"train", "valid"} <= set(held) or not cfg.valid_percent:
        return held
    warnings.warn(f"{cfg.data}: {len(set(writers))} writer(s), too few to hold whole writers "
                  f"out; validation and test hold out single lines instead, so they are not "
                  f"writer-disjoint", stacklevel=2)
    order = sorted(range(len(writers)), key=lambda i: zlib.crc32(f"{writers[i]}#{i}".encode()))
    sizes = [math.ceil(len(writers) * share / 100) for share in (cfg.test_percent,
                                                                  cfg.valid_percent)]
    held = ["train"] * len(writers)
    for i in order[:sizes[0]]:
        held[i] = "test"
    for i in order[sizes[0]:sizes[0] + sizes[1]]:
        held[i] = "valid"
    return held


def writer_primers(data: str, split: str = "valid", max_points: int = 600) -> list[Ink]:
    """One real line per writer of `split`, as a user would prime with one: the longest of
    up to `max_points` prepared points whose ink is not cut short (8+ points per character)."""
    lines = load_splits(TrainConfig(data=data, synthesis=True, max_points=max_points),
                        split)[split]
    best: dict[str, tuple] = {}
    for strokes, text, writer in lines:
        whole = len(strokes) >= 8 * len(text)
        if whole and (writer not in best or len(strokes) > len(best[writer][0])):
            best[writer] = (strokes, text)
    return [Ink(strokes, text=text, writer=writer, meta={"units": MODEL_UNITS})
            for writer, (strokes, text) in sorted(best.items())]


def line_set(lines: list, alphabet: str, style: bool = False) -> LineSet:
    """A LineSet of `(strokes, text, writer)` lines; with `style`, primed by their writers."""
    texts = [encode_text(t, alphabet) for _, t, _ in lines] if alphabet else None
    return LineSet([s for s, _, _ in lines], texts,
                   [w or "" for _, _, w in lines] if style else None)


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, net: HandwritingNet, cfg: TrainConfig | None, step: int,
                    offset_scale: float, optimizer: torch.optim.Optimizer | None = None,
                    extra: dict | None = None) -> None:
    """Config + weights (+ optimiser and RNG state for resume), written atomically."""
    net = getattr(net, "module", net)  # never a DDP wrapper's state dict
    state = {"version": CHECKPOINT_VERSION, "model_config": asdict(net.cfg),
             "train_config": asdict(cfg) if cfg else None, "offset_scale": float(offset_scale),
             "step": step, "model": net.state_dict(),
             "optimizer": optimizer.state_dict() if optimizer else None, **(extra or {})}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def export_model(src: str | Path, dst: str | Path, half: bool = True,
                 neatness: dict | None = None) -> None:
    """Strip optimiser and RNG state for shipping; fp16 weights halve the file. `neatness`
    (`neatness.neatness_of`) is stored with it when given."""
    state = load_checkpoint(src)
    if neatness is not None:
        state["neatness"] = neatness
    weights = {k: v.half() if half and v.is_floating_point() else v
               for k, v in state["model"].items()}
    keep = {k: state[k] for k in ("version", "kind", "model_config", "train_config",
                                  "offset_scale", "step", "valid", "hours", "neatness")
            if k in state}
    tmp = Path(str(dst) + ".tmp")
    torch.save({**keep, "model": weights, "optimizer": None}, tmp)
    os.replace(tmp, dst)


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(net: HandwritingNet, lines: LineSet, offset_scale: float,
             batch_size: int = 64) -> dict:
    """NLL of whole lines: nats per sequence (Graves' Table 3 unit) and per point."""
    was_training = net.training
    net.eval()
    total, points = 0.0, 0
    device = next(net.parameters()).device
    for batch in lines.in_batches(batch_size, offset_scale):
        batch = batch.to(device)
        raw, _ = net(batch.strokes_in, batch.text, batch.text_mask, style=style_of(net, batch))
        nll = mixture_nll(split_mixture(raw), batch.strokes_out, batch.mask)
        total += float(nll.sum())
        points += int(batch.mask.sum())
    net.train(was_training)
    total += 2 * math.log(offset_scale) * points  # density of unscaled offsets
    return {"nats_per_sequence": total / len(lines), "nats_per_point": total / points,
            "lines": len(lines), "points": points}


@torch.no_grad()
def start_writer_styles(net: HandwritingNet, lines: LineSet, offset_scale: float) -> None:
    """Each training writer's learnt style starts as the mean reading of their lines, so
    the network first writes in them as it wrote in the readings."""
    encoder, was_training = net.style_encoder, net.training
    net.eval()
    sums = torch.zeros_like(encoder.table.weight)
    counts = torch.zeros(len(sums))
    for start in range(0, len(lines), 256):
        rows = range(start, min(start + 256, len(lines)))
        strokes, mask = pad_primers([lines.strokes[i][:PRIMER_POINTS] for i in rows],
                                    offset_scale)
        pooled, read = encoder.summary(strokes, mask)
        style = encoder.read(encoder.standardised(pooled))
        raw = torch.atanh(style.clamp(-0.995, 0.995))  # the style before tanh
        writers = torch.tensor([lines.writer_ids[i] for i in rows])[read]
        sums.index_add_(0, writers, raw)
        counts.index_add_(0, writers, torch.ones(len(writers)))
    encoder.table.weight.copy_(sums / counts.clamp(min=1)[:, None])
    net.train(was_training)


def style_of(net: HandwritingNet, batch: Batch) -> torch.Tensor | None:
    """The batch's style vectors from its primers, or None (no style)."""
    if batch.primer is None or not net.cfg.style_size:
        return None
    return net.encode_style(batch.primer, batch.primer_mask)


# ---------------------------------------------------------------- training


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Short warm-up, then cosine decay to a tenth of `lr`."""
    warmup = min(200, cfg.steps // 10)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(cfg.steps - warmup, 1)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def optimiser_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, lr: float,
                   clip: float) -> None:
    """One optimiser step on `loss` at `lr`, the gradient's norm clipped to `clip`: the loop
    of the models that learn from whole lines at once (reader, text model)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                   clip)
    optimizer.step()


def make_optimizer(net: HandwritingNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser, the style encoder in a group of its own (`lr_scale`: its rate's factor)."""
    encoder = [p for name, p in net.named_parameters() if name.startswith("style_encoder.")]
    rest = [p for name, p in net.named_parameters() if not name.startswith("style_encoder.")]
    groups = [{"params": rest, "lr_scale": 1.0}]
    if encoder:
        groups.append({"params": encoder, "lr_scale": cfg.style_lr_scale})
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if cfg.optimizer == "rmsprop-graves":
        # Graves eqs. 38-41: centred RMSprop with momentum (torch adds eps outside the sqrt).
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=0.95, eps=1e-4,
                                   momentum=0.9, centered=True)
    raise ValueError(f"--optimizer must be adam or rmsprop-graves, got {cfg.optimizer!r}")


def add_derivative_clipping(net: HandwritingNet) -> None:
    """Graves section 4.2: clip output derivatives to +-100 and LSTM derivatives to +-10.

    Fused LSTM kernels hide the pre-activations, so the LSTM clip acts on each layer's output.
    """
    net.head.register_full_backward_pre_hook(lambda m, g: (g[0].clamp(-100, 100),))
    for layer in net.layers:
        layer.register_full_backward_pre_hook(
            lambda m, g: tuple(x.clamp(-10, 10) if x is not None else None for x in g))


def max_points_at(step: int, cfg: TrainConfig) -> int:
    """Curriculum: start on short lines, reach `max_points` after `curriculum_steps`."""
    if step >= cfg.curriculum_steps:
        return cfg.max_points
    shortest = min(80, cfg.max_points)
    return int(shortest + (cfg.max_points - shortest) * step / cfg.curriculum_steps)


def train(cfg: TrainConfig, model_cfg: ModelConfig, resume: bool = False) -> dict:
    """Train to `cfg.steps`; returns the last validation numbers. Ctrl-C saves, then stops."""
    run = set_up(cfg, model_cfg, resume)
    valid = {}
    bar = tqdm(total=cfg.steps, initial=run.step, disable=run.rank != 0, dynamic_ncols=True)

    def save_last() -> str:
        save_run(run, run.out / "last.pt")
        return f"{run.out / 'last.pt'} at step {run.step}"

    try:
        with Interruptible(run.rng, save_last if run.rank == 0 else None) as interrupt:
            while run.step < cfg.steps:
                interrupt.mark()
                run.losses.append(train_step(run) + 2 * math.log(run.offset_scale))
                del run.losses[:-max(cfg.eval_every, 50)]  # what the bar and the log average
                interrupt.mark()  # the step is taken
                bar.update()
                bar.set_postfix(nll=f"{np.mean(run.losses[-50:]):.3f}",
                                pts_s=f"{run.points_seen / (time.time() - run.t0):.0f}")
                if run.rank == 0 and (run.step % cfg.eval_every == 0 or run.step == cfg.steps):
                    valid = validate(run)
                    log_validation(run, valid, np.mean(run.losses[-cfg.eval_every:]))
                if run.rank == 0 and (run.step % cfg.checkpoint_every == 0
                                      or run.step == cfg.steps):
                    save_run(run, run.out / "last.pt")
    finally:
        bar.close()
        if run.distributed:
            dist.destroy_process_group()
    return valid


@dataclass
class Run:
    """A training run under way: what `set_up` builds and the loop's phases share."""
    cfg: TrainConfig
    net: HandwritingNet
    model: torch.nn.Module           # net, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator         # the batches' draws
    average: WeightAverage
    train_set: LineSet
    valid_set: LineSet
    unstyled: LineSet | None         # validation with the zero style (a styled model only)
    offset_scale: float
    device: torch.device
    autocast: torch.autocast
    rank: int
    distributed: bool
    out: Path
    step: int = 0
    best: float = math.inf           # best validation nats per point so far
    hours: float = 0.0               # spent before this session (resumed runs)
    t0: float = 0.0                  # when this session's loop began (time.time())
    points_seen: int = 0             # this session's training points
    losses: list[float] = field(default_factory=list)  # the last steps' (kept across a resume)


def run_state(out: str | Path, resume: bool, steps: int) -> dict | None:
    """The run state `--resume` continues, or None for a new run; a new run never writes over
    an old one, and a resumed run must have steps left to take."""
    last = Path(out) / "last.pt"
    if not resume:
        if last.exists():
            raise ValueError(f"{out} holds a run already ({last}): --resume continues it, "
                             "or give another --out")
        return None
    state = load_checkpoint(last)
    if state["step"] >= steps:
        raise ValueError(f"{last} is at step {state['step']} of --steps {steps}: nothing left "
                         "to train; a larger --steps trains on")
    return state


def set_up(cfg: TrainConfig, model_cfg: ModelConfig, resume: bool) -> Run:
    """Everything before the first step: devices, data, network, optimiser, resumed state."""
    if cfg.precision not in ("fp32", "bf16"):
        raise ValueError(f"--precision must be fp32 or bf16, got {cfg.precision!r}")
    if cfg.precision == "bf16" and not torch.cuda.is_available() and not cpu_has_bf16():
        raise ValueError("--precision bf16 needs a CPU with AVX512-BF16 or AMX (this one has "
                         f"{torch.backends.cpu.get_cpu_capability()}); use --precision fp32")
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank = dist.get_rank()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
                          if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    out = Path(cfg.out)
    state = run_state(out, resume, cfg.steps)
    out.mkdir(parents=True, exist_ok=True)
    init = load_checkpoint(cfg.init) if cfg.init and not state else None
    splits = load_splits(cfg, "train", "valid")
    model_cfg = run_model_config(cfg, model_cfg, state, init, splits["train"])
    styled = bool(model_cfg.style_size)
    train_set = line_set(splits["train"], model_cfg.alphabet, styled)
    valid_set = line_set(splits["valid"], model_cfg.alphabet, styled)
    # with a style: also the zero style on validation, to see what the style is worth
    unstyled = line_set(splits["valid"], model_cfg.alphabet) if styled else None
    offset_scale = ((state or init)["offset_scale"] if state or init
                    else offset_scale_of(train_set.strokes))

    # bf16 runs the LSTM and head matmuls at up to twice the fp32 rate on CPUs with AVX512-BF16
    # or AMX (docs/BENCHMARKS.md, "Training speed"); the mixture density and the optimiser
    # stay in fp32.
    autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=cfg.precision == "bf16")
    torch.manual_seed(cfg.seed)
    net = HandwritingNet(model_cfg).to(device)
    optimizer = make_optimizer(net, cfg)
    rng = np.random.default_rng([cfg.seed, rank])
    if init:
        widen(net, init["model"])
    if model_cfg.style_table and not state and "style_encoder.table.weight" not in (
            init or {}).get("model", {}):
        start_writer_styles(net, train_set, offset_scale)
    if state:
        restore(state, net, optimizer, rng)
    average = WeightAverage(net, cfg.average, state.get("average") if state else None)
    if cfg.derivative_clip:
        add_derivative_clipping(net)
    model = torch.nn.parallel.DistributedDataParallel(net) if distributed else net
    run = Run(cfg, net, model, optimizer, rng, average, train_set, valid_set, unstyled,
              offset_scale, device, autocast, rank, distributed, out)
    if state:
        run.step, run.best = state["step"], state.get("best_valid", math.inf)
        run.hours, run.losses = state.get("hours", 0.0), state.get("losses", [])
    log_path = out / "log.csv"
    if rank == 0 and state:
        log_up_to(log_path, state["step"])
    if rank == 0 and not log_path.exists():
        log_path.write_text("step,hours,lr,train_nats_per_point,valid_nats_per_point,"
                            "valid_nats_per_sequence\n")
    if rank == 0:
        print(f"{len(train_set)} training lines, {len(valid_set)} validation lines; "
              f"{sum(p.numel() for p in net.parameters()):,} parameters; "
              f"offset scale {offset_scale:.4f}")
    run.t0 = time.time()
    return run


def log_up_to(path: Path, step: int) -> None:
    """A resumed run's log.csv without the rows of steps after its last.pt, which it logs
    again: a run killed outright (not Ctrl-C, which saves) had gone on past its last.pt."""
    if not path.exists():
        return
    header, *rows = path.read_text().splitlines(keepends=True)
    kept = [row for row in rows if int(row.split(",", 1)[0]) <= step]
    if len(kept) < len(rows):
        atomic_write(path, lambda f: f.write("".join([header, *kept]).encode()))


SHAPES = ("num_layers", "hidden_size", "num_mixtures", "window_mixtures")  # kept by --init


def check_shapes(init: str, trained: dict, asked: dict) -> None:
    """A run from a checkpoint keeps its shapes: a shape `asked` for that differs is refused."""
    for name, value in asked.items():
        if value != trained.get(name):
            raise ValueError(f"--{name.replace('_', '-')} {value}: --init {init} has "
                             f"{trained.get(name)}, and a run from a checkpoint keeps its "
                             "shapes (leave the flag out)")


def run_model_config(cfg: TrainConfig, model_cfg: ModelConfig, state: dict | None,
                     init: dict | None, train_lines: list) -> ModelConfig:
    """The network a run trains: a resumed run's own; an --init one's shapes with this run's
    dropout and style choices; a new one's alphabet and style writers read from the data."""
    if state:
        model_cfg = ModelConfig(**state["model_config"])
    elif init:  # the shapes come from the weights; dropout and style are this run's choice
        trained, added = init["model_config"], {}
        default = ModelConfig()  # a shape other than the default was asked for
        check_shapes(cfg.init, trained, {name: getattr(model_cfg, name) for name in SHAPES
                                         if getattr(model_cfg, name) != getattr(default, name)})
        # ... and so are letter shapes added to its measurements, or a style input added to
        # a network trained without one (`widen`)
        if trained.get("style_size"):  # more numbers of style may be added too
            added = {"style_shape": trained.get("style_shape", False) or model_cfg.style_shape,
                     "style_size": max(trained["style_size"], model_cfg.style_size)}
        elif model_cfg.style_size:
            added = {"style_size": model_cfg.style_size, "style_hidden": model_cfg.style_hidden,
                     "style_statistics": model_cfg.style_statistics,
                     "style_shape": model_cfg.style_shape}
        model_cfg = ModelConfig(**{**trained, "dropout": model_cfg.dropout, **added})
    if cfg.synthesis and not model_cfg.alphabet:
        alphabet = build_alphabet([t for _, t, _ in train_lines], cfg.min_char_count)
        rare = sorted(set("".join(t for _, t, _ in train_lines)) - set(alphabet))
        if rare:
            warnings.warn(f"{len(rare)} characters are in the training text fewer than "
                          f"--min-char-count {cfg.min_char_count} times, and the model will "
                          f"not write them: {''.join(rare)!r}", stacklevel=2)
        chars = sum(len(t) for _, t, _ in train_lines)
        rate = chars / sum(len(s) for s, _, _ in train_lines)
        model_cfg = ModelConfig(**{**asdict(model_cfg), "alphabet": alphabet,
                                   "chars_per_step": round(rate, 4)})
    elif not cfg.synthesis:
        model_cfg = ModelConfig(**{**asdict(model_cfg), "alphabet": ""})
    writers = len({w for _, _, w in train_lines})
    if cfg.style_noise < 0 or (cfg.style_noise and not cfg.writer_styles):
        raise ValueError(f"--style-noise moves writers' learnt styles: it needs --writer-styles "
                         f"and a value of 0 or more (a share of their spread), got "
                         f"{cfg.style_noise}")
    if cfg.writer_styles and not model_cfg.style_size:
        raise ValueError("--writer-styles needs a style input (--style-size, or --init a "
                         "model with one)")
    if cfg.writer_styles and not model_cfg.style_table:
        model_cfg = ModelConfig(**{**asdict(model_cfg), "style_table": writers})
    elif model_cfg.style_size and cfg.style_id_weight and not model_cfg.style_writers:
        model_cfg = ModelConfig(**{**asdict(model_cfg), "style_writers": writers})
    return model_cfg


def train_step(run: Run) -> float:
    """One optimiser step on a fresh batch; returns its nats per point (scaled offsets)."""
    cfg = run.cfg
    batch = run.train_set.sample(run.rng, cfg.batch_size, max_points_at(run.step, cfg),
                                 run.offset_scale, crop=not cfg.synthesis,
                                 distortion=cfg.distortion,
                                 style_dropout=cfg.style_dropout).to(run.device)
    for group in run.optimizer.param_groups:
        group["lr"] = lr_at(run.step, cfg) * group.get("lr_scale", 1.0)
    run.optimizer.zero_grad(set_to_none=True)
    loss = backprop(run.model, batch, cfg.chunk, run.autocast, cfg.style_id_weight,
                    cfg.style_noise)
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.net.parameters(), cfg.grad_clip)
    run.optimizer.step()
    run.average.update(run.step)
    run.step += 1
    run.points_seen += int(batch.mask.sum())
    return loss


def validate(run: Run) -> dict:
    """Validation NLL with the averaged weights (and with no style, for a styled model);
    a new best is saved as best.pt."""
    with run.average.swapped_in():
        valid = evaluate(run.net, run.valid_set, run.offset_scale)
        if run.unstyled:
            valid["no_style_nats_per_point"] = evaluate(
                run.net, run.unstyled, run.offset_scale)["nats_per_point"]
        if valid["nats_per_point"] < run.best:
            run.best = valid["nats_per_point"]
            save_run(run, run.out / "best.pt", valid)
    return valid


def log_validation(run: Run, valid: dict, train_nats: float) -> None:
    """A validation's row in log.csv, its line on the console, and the loss curve redrawn."""
    log_path = run.out / "log.csv"
    elapsed = run.hours + (time.time() - run.t0) / 3600
    with open(log_path, "a", newline="") as f:
        csv.writer(f).writerow([run.step, f"{elapsed:.4f}", f"{lr_at(run.step, run.cfg):.3g}",
                                f"{train_nats:.4f}", f"{valid['nats_per_point']:.4f}",
                                f"{valid['nats_per_sequence']:.2f}"])
    no_style = (f" (with no style: {valid['no_style_nats_per_point']:.4f})"
                if run.unstyled else "")
    tqdm.write(f"step {run.step}: train {train_nats:.4f} "
               f"valid {valid['nats_per_point']:.4f} nats/point, "
               f"{valid['nats_per_sequence']:.1f} nats/line{no_style}")
    plot_log(log_path, run.out / "loss.png")


def save_run(run: Run, path: Path, valid: dict | None = None) -> None:
    """A checkpoint of the run; last.pt also keeps the weight average (best.pt's model is it)."""
    extra = {"best_valid": run.best, **random_state(run.rng),
             "hours": run.hours + (time.time() - run.t0) / 3600}
    if path.name == "last.pt":
        extra["average"], extra["losses"] = run.average.weights, run.losses
    if valid:
        extra["valid"] = valid
    save_checkpoint(path, run.net, run.cfg, run.step, run.offset_scale, run.optimizer, extra)


class WeightAverage:
    """An exponential moving average of the weights (Polyak averaging), for validation.

    Adam's last steps jitter around a minimum; their average usually sits lower in it.
    """

    def __init__(self, net: torch.nn.Module, keep: float, weights: list | None = None):
        self.params = list(net.parameters())
        self.keep = keep
        self.weights = None
        if keep:
            self.weights = ([w.to(p) for w, p in zip(weights, self.params, strict=True)]
                            if weights else [p.detach().clone() for p in self.params])

    @torch.no_grad()
    def update(self, step: int) -> None:
        if self.weights:
            keep = min(self.keep, (1 + step) / (10 + step))  # early on, follow the weights
            torch._foreach_lerp_(self.weights, [p.detach() for p in self.params], 1 - keep)

    @contextmanager
    def swapped_in(self):
        """The averaged weights in the network for the duration (no-op when off)."""
        if not self.weights:
            yield
            return
        current = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, w in zip(self.params, self.weights, strict=True):
                p.copy_(w)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, w in zip(self.params, current, strict=True):
                    p.copy_(w)


def backprop(model: torch.nn.Module, batch: Batch, chunk: int, autocast,
             style_id_weight: float = 0.0, style_noise: float = 0.0) -> float:
    """Gradients of the batch's nats per point, `chunk` points at a time (0: all at once).

    The state after one chunk starts the next, detached: a long line costs the memory of a
    chunk, yet the network still learns how lines begin and carries on across them.
    With a style, also `style_id_weight` times the cross-entropy of naming each primer's
    writer from its style; with writers' learnt styles, lines are written in those (each
    moved by `style_noise` at random) and the reading learns to predict them (squared error);
    neither is in the returned nats per point.
    """
    T = batch.mask.shape[1]
    chunk = chunk or T
    points = batch.mask.sum()
    state, total = None, 0.0
    # The style is read once per line; its gradient gathers over the chunks, then flows
    # into the encoder in one backward pass.
    net = getattr(model, "module", model)
    read = style = written = style_of(net, batch)
    if read is not None and net.style_encoder.table is not None:  # each writer's own style
        named = (batch.writer >= 0)[:, None]
        row = net.style_encoder.table(batch.writer.clamp(min=0))
        style = written = torch.tanh(row) * named
        if style_noise:  # written near the writer's style; the reading still predicts it
            spread = net.style_encoder.table.weight.detach().std(0)
            written = torch.tanh(row + style_noise * spread * torch.randn_like(row)) * named
    leaf = written.detach().requires_grad_() if written is not None else None
    for start in range(0, T, chunk):
        at = slice(start, start + chunk)
        last = start + chunk >= T
        sync = model.no_sync() if hasattr(model, "no_sync") and not last else nullcontext()
        with sync:
            with autocast:
                raw, state = model(batch.strokes_in[:, at], batch.text, batch.text_mask, state,
                                   style=leaf)
            nll = mixture_nll(split_mixture(raw.float()), batch.strokes_out[:, at],
                              batch.mask[:, at])
            loss = nll.sum() / points
            loss.backward()
        total += loss.item()
        state = State(*(x.detach().float() if x is not None else None for x in state))
    if style is not None:
        side = style_side_loss(net, batch, read, style, style_id_weight)
        (torch.sum(written * leaf.grad) + side).backward()
    return total


def style_side_loss(net: HandwritingNet, batch: Batch, read: torch.Tensor,
                    style: torch.Tensor, style_id_weight: float) -> torch.Tensor:
    """What keeps the reading a writer's, beside the nats: with writers' learnt styles,
    its squared error from the writer's `style`; else `style_id_weight` times the
    cross-entropy of naming each primer's writer from it."""
    named = batch.writer >= 0 if batch.writer is not None else None
    if named is None or not named.any():
        return read.new_zeros(())
    if net.style_encoder.table is not None:
        return ((read[named] - style[named].detach()) ** 2).sum(-1).mean()
    classify = net.style_encoder.writer
    if style_id_weight and classify is not None:
        return style_id_weight * F.cross_entropy(classify(read[named]), batch.writer[named])
    return read.new_zeros(())


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 here; without it the fused LSTM refuses bf16 inputs."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def stop_like_ctrl_c(signum, frame) -> None:
    raise KeyboardInterrupt


def random_state(rng: np.random.Generator) -> dict:
    """Both random streams a training step draws from, as a checkpoint keeps them."""
    return {"rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}


def set_random_state(rng: np.random.Generator, state: dict) -> None:
    """Both random streams back where `random_state` found them."""
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])


def restore(state: dict, net: torch.nn.Module, optimizer: torch.optim.Optimizer,
            rng: np.random.Generator) -> None:
    """A saved run's weights, optimiser and random streams, to continue it exactly."""
    net.load_state_dict(state["model"])
    if state["optimizer"]:
        optimizer.load_state_dict(state["optimizer"])
    if "rng" in state:
        set_random_state(rng, state)


def small_run(net: torch.nn.Module, lr: float, steps: int, seed: int, state: dict | None,
              best_key: str) -> tuple[torch.optim.Optimizer, TrainConfig, np.random.Generator,
                                      int, float, float]:
    """The set-up of the small training loops (`train-reader`, `train-text`): Adam, its
    schedule, the batches' random generator, and the step, best score (`state[best_key]`) and
    hours so far, all restored from `state` when resuming."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    schedule = TrainConfig(lr=lr, steps=steps)
    if not state:
        return optimizer, schedule, rng, 0, math.inf, 0.0
    restore(state, net, optimizer, rng)
    return optimizer, schedule, rng, state["step"], state[best_key], state["hours"]


def train_small(net: torch.nn.Module, cfg, state: dict | None, kind: str, best_key: str,
                offset_scale: float, batch_loss: Callable[[np.random.Generator], torch.Tensor],
                clip: float, validate: Callable[[], dict], columns: dict[str, str]) -> dict:
    """The loop of the small models (`train-reader`, `train-text`): Adam on `batch_loss(rng)`
    (nats per character) to `cfg.steps`, `validate()` every `cfg.eval_every` steps keeping
    best.pt by its first column (lower is better); log.csv holds step, training loss and the
    validation's `columns` (name: format). Ctrl-C saves last.pt; `state` resumes it exactly."""
    optimizer, schedule, rng, step, best, hours = small_run(net, cfg.lr, cfg.steps, cfg.seed,
                                                            state, best_key)
    score = next(iter(columns))
    result = {}
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if not state:
        (out / "log.csv").write_text(",".join(["step", "train_nats_per_char"]
                                              + [f"valid_{k}" for k in columns]) + "\n")
    else:
        log_up_to(out / "log.csv", step)
    t0 = time.time()

    def checkpoint(path: Path, keep_optimizer: bool = True) -> None:
        extra = {"kind": kind, "valid": result, best_key: best, **random_state(rng),
                 "hours": hours + (time.time() - t0) / 3600}
        save_checkpoint(path, net, cfg, step, offset_scale,
                        optimizer if keep_optimizer else None, extra)

    def save_last() -> str:
        checkpoint(out / "last.pt")
        return f"{out / 'last.pt'} at step {step}"

    net.train()
    with tqdm(total=cfg.steps, initial=step, dynamic_ncols=True) as bar, \
            Interruptible(rng, save_last) as interrupt:
        while step < cfg.steps:
            interrupt.mark()
            loss = batch_loss(rng)
            optimiser_step(optimizer, loss, lr_at(step, schedule), clip)
            step += 1
            interrupt.mark()  # the step is taken
            bar.update()
            bar.set_postfix(nats_per_char=f"{loss.item():.3f}")
            if step % cfg.eval_every == 0 or step == cfg.steps:
                result = validate()
                net.train()
                if result[score] < best:
                    best = result[score]
                    checkpoint(out / "best.pt", keep_optimizer=False)
                checkpoint(out / "last.pt")
                valid = [format(result[k], f) for k, f in columns.items()]
                with open(out / "log.csv", "a") as f:
                    f.write(",".join([str(step), f"{loss.item():.4f}", *valid]) + "\n")
                tqdm.write(f"step {step}: train {loss.item():.3f} nats/char, valid "
                           + ", ".join(f"{k} {v}" for k, v in zip(columns, valid, strict=True)))
    return result


class Interruptible:
    """A training loop's Ctrl-C (and SIGTERM): an unfinished step's random draws are
    rewound, so resuming draws its batch again, then `save()` (it returns what it saved,
    for the message) runs and the interrupt goes on. Call `mark` as each step starts and
    once its update is made: from then on the step counts, and so do its draws."""

    def __init__(self, rng: np.random.Generator, save: Callable[[], str] | None):
        self.rng, self.save = rng, save

    def mark(self) -> None:
        """The draws made so far count: an interrupt from here on rewinds to this point."""
        self.start = random_state(self.rng)

    def __enter__(self) -> Interruptible:
        self.previous = signal.signal(signal.SIGTERM, stop_like_ctrl_c)
        self.mark()
        return self

    def __exit__(self, kind, value, traceback) -> None:
        signal.signal(signal.SIGTERM, self.previous)
        if kind is KeyboardInterrupt and self.save is not None:
            set_random_state(self.rng, self.start)  # resuming draws this step's batch again
            tqdm.write(f"interrupted: saved {self.save()}; --resume continues")


def plot_log(log_path: Path, png: Path) -> None:
    """Loss curve of a run: training and validation nats per point against steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(log_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for key, label in (("train_nats_per_point", "train"), ("valid_nats_per_point", "valid")):
        ax.plot(steps, [float(r[key]) for r in rows], marker=".", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("NLL (nats per point)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = png.with_name(png.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png)


