"""The `handwriter` command: argparse and exit codes, each command one library call."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import sys
import typing
import warnings
from pathlib import Path

from .ink import FORMATS, Ink, InkError

# Short names for the flags people type most (the long field names work too).
ALIASES = {"num_layers": "--layers", "hidden_size": "--hidden", "num_mixtures": "--mixtures",
           "grad_clip": "--clip"}


def add_config_flags(parser: argparse.ArgumentParser, cfg_type: type,
                     skip: tuple[str, ...] = (), base=None) -> None:
    """One flag per config field, its help and default read from the dataclass (or `base`)."""
    base = base or cfg_type()
    hints = typing.get_type_hints(cfg_type)
    comments = field_comments(cfg_type)
    for f in dataclasses.fields(cfg_type):
        if f.name in skip:
            continue
        hint = next(t for t in typing.get_args(hints[f.name]) or [hints[f.name]]
                    if t is not type(None))  # `float | None`: a float, or its default
        kind = ({"action": argparse.BooleanOptionalAction} if hint is bool
                else {"type": hint, "metavar": f.name.split("_")[-1].upper()})
        names = ["--" + f.name.replace("_", "-")] + ([ALIASES[f.name]] if f.name in ALIASES
                                                      else [])
        text = comments.get(f.name, "")
        if "(default:" not in text:  # a comment may say what an empty default means
            value = getattr(base, f.name)  # a str as typed: 'G21\nG90', not 'G21\\nG90'
            shown = f"'{value}'" if isinstance(value, str) else repr(value)
            text += f" (default: {shown})"
        parser.add_argument(*names, dest=f.name, default=None, help=text.replace("%", "%%"),
                            **kind)  # argparse formats help with %


def field_comments(cfg_type: type) -> dict[str, str]:
    """The `# comment` after each field in the dataclass source: one home for its help."""
    import inspect

    out, name = {}, None
    for line in inspect.getsource(cfg_type).splitlines():
        line = line.strip()
        if line.startswith("#") and name in out:  # a comment carried on to the next line
            out[name] += " " + line[1:].strip()
            continue
        name, _, rest = line.partition(":")
        if "#" in rest and name.isidentifier():
            out[name] = rest.split("#", 1)[1].strip()
    return out


def config_from_args(cfg_type: type, args: argparse.Namespace, base=None):
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cfg_type)
             if getattr(args, f.name, None) is not None}
    return dataclasses.replace(base or cfg_type(), **given)


# ---------------------------------------------------------------- commands


def cmd_train(args: argparse.Namespace) -> int:
    from .model import ModelConfig, load_checkpoint
    from .train import SHAPES, TrainConfig, check_shapes, train

    cfg = config_from_args(TrainConfig, args)
    model_cfg = config_from_args(ModelConfig, args)
    if cfg.init and not args.resume:  # a shape flag given, even at its default, is asked for
        check_shapes(cfg.init, load_checkpoint(cfg.init)["model_config"],
                     {name: getattr(args, name) for name in SHAPES
                      if getattr(args, name, None) is not None})
    if args.resume:
        last = Path(cfg.out) / "last.pt"
        state = load_checkpoint(last)
        changed = [f.name for f in dataclasses.fields(ModelConfig)
                   if getattr(args, f.name, None) is not None
                   and getattr(args, f.name) != state["model_config"].get(f.name)]
        if changed:
            raise ValueError(f"--resume keeps the model of {last}; it differs in "
                             f"{', '.join(changed)}")
        cfg = config_from_args(TrainConfig, args, TrainConfig(**state["train_config"]))
    if not cfg.data:
        raise ValueError("--data is required: a lines.npz (see `handwriter data convert`)")
    valid = train(cfg, model_cfg, resume=args.resume)
    if valid:  # only rank 0 of a torchrun job validates
        print(json.dumps(valid))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .model import load_model
    from .sample import model_file
    from .train import TrainConfig, evaluate, line_set, load_splits

    net, state = load_model(model_file(args.model))
    trained = TrainConfig(**state["train_config"])
    cfg = dataclasses.replace(trained, data=args.data, synthesis=bool(net.cfg.alphabet)
                              or args.text_lines, max_points=args.max_points or
                              trained.max_points)
    split = load_splits(dataclasses.replace(cfg, max_points=2**31), args.split)[args.split]
    kept = [line for line in split if len(line[0]) <= cfg.max_points or not cfg.synthesis]
    if len(kept) < len(split):  # a synthesis model is scored on lines it trained up to
        warn([f"{len(split) - len(kept)} line{'s' * (len(split) - len(kept) != 1)} longer "
              f"than --max-points {cfg.max_points} left out"])
    if not kept:
        raise InkError(args.data, None, f"no {args.split!r} line is --max-points "
                       f"{cfg.max_points} points or shorter")
    lines = line_set(kept, net.cfg.alphabet, style=bool(net.cfg.style_size))
    result = evaluate(net, lines, state["offset_scale"])
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.split}: {result['lines']} lines, {result['points']} points: "
              f"{result['nats_per_sequence']:.2f} nats per sequence, "
              f"{result['nats_per_point']:.4f} nats per point")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .render import check_format
    from .sample import SampleConfig, read_primer
    from .unprompted import from_nothing

    check_format(args.output)
    primer = read_primer(args.prime) if args.prime else None
    inks = from_nothing(config_from_args(SampleConfig, args), args.model, args.text_model,
                        primer, args.words)
    for i, ink in enumerate(inks, 1):  # what the drafter wrote, for reading the ink against
        if ink.text:
            print(f"line {i}: {ink.text}", file=sys.stderr)
    save_outputs(inks, args.output, args.split, one_scale=True)
    return 0


def cmd_write(args: argparse.Namespace) -> int:
    from .layout import PageConfig, wrap_text
    from .plotter import PlotterConfig, check_paper_format
    from .reader import InkReader
    from .render import LINE_HEIGHT, PenStyle, check_format
    from .sample import WRITING, SampleConfig, Writer, read_primer
    from .styles import check_style
    from .writing import LINE_WIDTH, write_page, write_sheets

    if (args.text is None) == (args.file is None):
        raise ValueError("give the text to write, or --file with it (not both)")
    text = args.text if args.file is None else read_text(args.file, "--file")
    if not text.strip():
        raise ValueError(f"{args.file or 'text'}: nothing to write, it is empty")
    cfg = config_from_args(SampleConfig, args, base=WRITING)
    page = config_from_args(PageConfig, args)
    pen = config_from_args(PenStyle, args)  # checked before minutes of writing, as all are
    on_paper = (any(getattr(args, f.name) is not None for f in dataclasses.fields(PageConfig))
                or Path(args.output).suffix.lower() in PAPER_ONLY)
    if on_paper:
        check_paper_format(args.output)
        config_from_args(PlotterConfig, args)  # refused as it is made, before the writing
        warn([f"{flag} is for lines without --page; a page ignores it" for flag, given in
              (("--split", args.split), ("--width", args.width is not None),
               ("--line-height", args.line_height is not None)) if given])
    else:
        check_format(args.output)
    if args.width is not None and args.width < 1:
        raise ValueError(f"--width must be at least 1 character, got {args.width}")
    if args.show_travel and not (on_paper and Path(args.output).suffix.lower() == ".png"):
        raise ValueError("--show-travel draws the pen-up moves on a page saved as .png")
    if args.prime and args.style is not None:
        raise ValueError("give --style or --prime, not both")
    writer = Writer.load(args.model, synthesis=True)
    text, notice = writer.writable(text)
    warn([notice] if notice else [])
    primer = read_primer(args.prime) if args.prime else None
    if primer is not None:
        primer.text = args.prime_text or primer.text
        if not primer.text.strip():
            raise ValueError("--prime needs --prime-text (the primer file has no transcription)")
        warn(check_style(writer, [primer], [args.prime]))
    style = dict(style=args.style, primer=primer,
                 primer_text=primer.text.strip() if primer else "",
                 reader=InkReader.load(args.reader), progress=True)
    if on_paper:
        save_paper(write_sheets(writer, text, page, cfg, **style), args)
        return 0
    lines = [line.text for line in wrap_text(text, args.width or LINE_WIDTH)]
    inks = write_page(writer, lines, cfg, **style)
    save_outputs(inks, args.output, args.split, line_height=args.line_height or LINE_HEIGHT,
                 one_scale=True, color=pen.color)
    return 0


PAPER_ONLY = (".gcode", ".hpgl")


def warn(messages: list[str]) -> None:
    for message in messages:
        print(f"handwriter: warning: {message}", file=sys.stderr)


def style_choice(value: str) -> int | str:
    """`--style`: a number is one of the model's own styles, anything else a saved style."""
    return int(value) if value.isdigit() else value


def save_paper(sheets: list, args: argparse.Namespace) -> None:
    """Save sheets in the output's format; prints each file and the pen-up travel saved."""
    from .plotter import PlotterConfig, older_sheets, save_sheets
    from .render import PenStyle

    warn([f"{path} is from an earlier run: this letter has {len(sheets)} "
          f"sheet{'s' * (len(sheets) > 1)}" for path in older_sheets(args.output, len(sheets))])
    for path, before, after in save_sheets(sheets, args.output,
                                           config_from_args(PlotterConfig, args),
                                           config_from_args(PenStyle, args),
                                           "red" if args.show_travel else None):
        saved = 100 * (1 - after / before) if before else 0.0
        print(f"{path}: pen-up travel {after / 1000:.2f} m ({saved:.0f}% less than in "
              "writing order)")


def save_outputs(inks: list, output: str, split: bool, **kw) -> None:
    from .render import save_inks

    if Path(output).suffix.lower() in (".npz", ".inkml"):
        kw = {}  # data files hold the ink itself: drawing options only apply to pictures
    if split:
        path = Path(output)
        for i, ink in enumerate(inks):
            target = path.with_name(f"{path.stem}-{i + 1:03d}{path.suffix}")
            save_inks([ink], target, **kw)
            print(target)
    else:
        save_inks(inks, output, **kw)
        print(output)


def cmd_train_text(args: argparse.Namespace) -> int:
    from .text_model import TextModelConfig, TextTrainConfig, train_text_model

    cfg = config_from_args(TextTrainConfig, args)
    if not cfg.data:
        raise ValueError("--data is required: a lines.npz with transcriptions")
    print(json.dumps(train_text_model(cfg, config_from_args(TextModelConfig, args),
                                      args.resume)))
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from .reader import ReaderConfig, ReaderTrainConfig, train_reader

    cfg = config_from_args(ReaderTrainConfig, args)
    if not cfg.data:
        raise ValueError("--data is required: a lines.npz with transcriptions")
    print(json.dumps(train_reader(cfg, config_from_args(ReaderConfig, args), args.resume)))
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    from .ink import read_ink
    from .reader import InkReader

    reader = InkReader.load(args.model)
    inks = read_ink(args.file)
    for ink, text in zip(inks, reader.read(inks), strict=True):
        print(f"{text}\t{ink.text}" if ink.text else text)
    return 0


def cmd_style(args: argparse.Namespace) -> int:
    from . import styles

    if args.style_command == "add":
        return style_add(args)
    if args.style_command == "list":
        for name in styles.list_styles():
            lines = styles.load_style(name)
            words = " / ".join(ink.text for ink in lines)
            print(f"{name}\t{len(lines)} line{'s' * (len(lines) != 1)}, "
                  f"{sum(map(len, lines))} points\t{words[:40] + '...' * (len(words) > 40)}")
    elif args.style_command == "show":
        lines = styles.load_style(args.name)
        for ink in lines:
            print(ink.text)
        if args.output:
            from .render import save_inks
            from .writing import style_proof

            picture = not args.output.lower().endswith(".inkml")
            save_inks(style_proof(args.name, args.seed, args.model) if picture else lines,
                      args.output)
            print(args.output)
    else:
        styles.remove_style(args.name)
        print(f"removed style {args.name!r}")
    return 0


def style_add(args: argparse.Namespace) -> int:
    """Check everything (name, ink, text, characters) before the one atomic save."""
    from .adapt import ADAPT_FROM, AdaptConfig, keep_style
    from .ink import read_ink
    from .reader import InkReader
    from .sample import Writer
    from .styles import check_new, check_size, check_style

    if not args.minutes > 0:
        raise ValueError(f"--minutes must be above 0, got {args.minutes}")
    if not 0 <= args.share <= 1:
        raise ValueError(f"--share must be between 0 and 1, got {args.share}")
    check_new(args.name, args.replace, "--replace replaces it")
    inks, where = [], []
    for path in args.ink:
        if Path(path).is_dir():
            raise ValueError(f"{path}: a folder; give the files of your lines (InkML, or any "
                             "format `data convert` reads)")
        lines = read_ink(path)
        if not lines:
            raise InkError(path, None, "no ink in the file")
        inks += lines
        where += [path] if len(lines) == 1 else [f"{path} line {i}" for i in
                                                   range(1, len(lines) + 1)]
    check_size(inks)
    if args.text is not None:
        if len(args.text) != len(inks):
            raise ValueError(f"--text given {len(args.text)} times for {len(inks)} lines of "
                             "ink: give one per line, in order")
        for ink, text in zip(inks, args.text, strict=True):
            ink.text = text
    unread = [i for i, ink in enumerate(inks) if not ink.text.strip()]
    reader = InkReader.load(args.reader)
    given = [i for i in range(len(inks)) if i not in unread]
    if unread:
        readings = reader.read([inks[i] for i in unread])
        confirm_readings([inks[i] for i in unread], [where[i] for i in unread], readings)
    writer = Writer.load(args.model, synthesis=True)
    warn(check_style(writer, inks, where))
    warn(unlike_readings([inks[i] for i in given], [where[i] for i in given], reader))
    cfg = AdaptConfig(minutes=args.minutes, share=args.share)
    adapted, path = keep_style(writer, args.name, inks, cfg, args.adapt)
    if adapted is not None:
        print(adapted.summary())
        if adapted.ran_out:
            print(f"more --minutes (now {args.minutes:g}) let it finish: more of your hand")
    print(f"saved style {args.name!r}: {len(inks)} line{'s' * (len(inks) != 1)} in {path}")
    if len(inks) < ADAPT_FROM:
        print(f"from {ADAPT_FROM} lines or more, `style add` adapts the network to them, "
              "which carries more of your hand")
    return 0


UNLIKE = 0.8  # characters to change per character of a line's text: a reading unlike it


def unlike_readings(inks: list[Ink], where: list[str], reader) -> list[str]:
    """Warnings for lines whose given text the recogniser reads nothing like (texts out of
    order, or for other ink): it misreads 24% of characters, so only a wide miss is said."""
    from .reader import edit_distance

    out = []
    for ink, at, reading in zip(inks, where, reader.read(inks) if inks else [], strict=True):
        text = ink.text.strip()
        if edit_distance(reading, text) > UNLIKE * len(text):
            out.append(f"{at}: the recogniser reads {reading!r}, little like {text!r}: is it "
                       "what the line says (--text goes in the order of the lines)?")
    return out


def confirm_readings(inks: list[Ink], where: list[str], readings: list[str]) -> None:
    """Each line's text as the recogniser reads it; at a terminal the person may correct it."""
    ask = sys.stdin.isatty()
    for ink, at, reading in zip(inks, where, readings, strict=True):
        print(f"{at}: the recogniser reads {reading!r}")
        typed = input("  Enter keeps it, or type what the line says: ").strip() if ask else ""
        ink.text = typed or reading
        if not ink.text.strip():
            raise ValueError(f"{at}: no text was read; give it with --text")
    if not ask:
        print("if a reading is wrong, add the style again with --text for each line and "
              "--replace")


def cmd_data(args: argparse.Namespace) -> int:
    from .ink import convert, output_kind, read_ink

    if args.data_command == "convert":
        output_kind(args.output, (".npz",), "converted ink (the lines.npz layout)")
        inks, untranscribed = convert(args.source, args.output, args.format, progress=True)
        if untranscribed:
            names = [ink.source or "?" for ink in untranscribed]
            more = f" and {len(names) - 10} more" if len(names) > 10 else ""
            warn([f"left out {len(names)} lines without a transcription: "
                  f"{', '.join(names[:10])}{more}"])
        print(f"{args.output}: {len(inks)} lines")
    elif args.data_command == "stats":
        from .data import describe

        print(json.dumps(describe(read_ink(args.file, args.format)), indent=2))
    elif args.data_command == "show":
        from .render import save_inks

        inks = read_ink(args.file, args.format)
        picked = [inks[i] for i in args.index if -len(inks) <= i < len(inks)]
        if len(picked) != len(args.index):
            raise ValueError(f"--index must be within 0..{len(inks) - 1} for {args.file}")
        save_inks(picked, args.output)
        for ink in picked:
            print(f"{ink.writer or '?'}: {ink.text!r}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from . import plots
    from .sample import WRITING, SampleConfig, Writer

    plots.check_figure_path(args.output)
    if args.plot_command == "density":
        cfg = config_from_args(SampleConfig, args)
        plots.plot_density(Writer.load(args.model), cfg, args.output)
    else:
        cfg = config_from_args(SampleConfig, args, base=WRITING)
        plots.plot_attention(Writer.load(args.model, synthesis=True), args.text, cfg,
                             args.output)
    print(args.output)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .studio import StudioConfig
    from .studio.app import serve

    serve(config_from_args(StudioConfig, args), open_browser=args.open)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .train import export_model

    if Path(args.output).suffix != ".pt":
        raise ValueError(f"-o {args.output}: a model file ends in .pt")
    neatness = None
    if args.neatness:
        import torch

        from .neatness import neatness_of
        from .reader import InkReader
        from .sample import Writer

        torch.set_num_threads(args.threads)
        neatness = neatness_of(Writer.load(args.checkpoint), InkReader.load(args.reader))
        print(f"neatness: one direction predicts the legibility of {neatness['styles']} "
              f"training writers' styles at r = {neatness['fit']:.2f} (left-out)")
    export_model(args.checkpoint, args.output, half=not args.full_precision, neatness=neatness)
    print(args.output)
    return 0


# ---------------------------------------------------------------- the parser


MODEL_HELP = "checkpoint to use (default: the model shipped with handwriter)"
DEBUG_HELP = "show tracebacks on errors"


def build_parser() -> argparse.ArgumentParser:
    """The `handwriter` parser: one `add_<command>` builder per command, in --help's order."""
    parser = argparse.ArgumentParser(
        prog="handwriter", description="Learns to write like a person (Graves 2013): sample "
        "new handwriting, write text by hand, train on your own ink.")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--version", action="version",
                        version=f"handwriter {importlib.metadata.version('handwriter')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in (add_sample, add_write, add_train, add_train_reader, add_train_text,
                        add_read, add_eval, add_style, add_data, add_plot, add_export,
                        add_serve):
        add_command(commands)
    return parser


def command(group: argparse._SubParsersAction, name: str, summary: str,
            **kw) -> argparse.ArgumentParser:
    """A subcommand: `summary` is its line in the list of commands and, where it has no
    longer description, the opening of its --help; it takes --debug after its name too
    (`handwriter write --debug ...`)."""
    kw.setdefault("description", summary[0].upper() + summary[1:] + ".")
    parser = group.add_parser(name, help=summary, **kw)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=DEBUG_HELP)
    return parser


def add_sample(commands: argparse._SubParsersAction) -> None:
    from .sample import SampleConfig

    p = command(commands, "sample", summary="write new handwriting from nothing (or a primer)",
                            description="New lines of handwriting from a random seed: a "
                            "character model drafts each line's text in the form of a real "
                            "line, the synthesis model writes it (Graves section 5); "
                            "`--model unconditional` writes with Graves' stroke-only network "
                            "(section 4) instead. The "
                            "output kind follows the extension: .svg .png .gif .npz .inkml")
    p.add_argument("-o", "--output", required=True, help="output file")
    p.add_argument("--model", help="checkpoint to use: a synthesis model writes drafted text, "
                   "an unconditional one strokes alone; `unconditional` names the shipped "
                   "stroke-only model, `synthesis` the one `write` uses (default: `sample`, "
                   "the synthesis model trained to write lines that pass for real)")
    p.add_argument("--text-model", help="character model that drafts the text (default: the "
                   "one shipped; see `handwriter train-text`)")
    p.add_argument("--words", help="word list the drafts hold to, a word a line, maybe with its "
                   "count (default: the shipped English one), in the forms of UNIPEN's "
                   "training lines; `any`: whatever the text model spells")
    p.add_argument("--prime", help="ink file whose first line sets the style to continue")
    p.add_argument("--split", action="store_true", help="one numbered file per line")
    add_config_flags(p, SampleConfig)
    p.set_defaults(run=cmd_sample)


def add_write(commands: argparse._SubParsersAction) -> None:
    from .layout import PageConfig
    from .plotter import PlotterConfig
    from .render import LINE_HEIGHT, PenStyle
    from .sample import WRITING, SampleConfig
    from .styles import MAX_PRIMER_POINTS
    from .writing import LINE_WIDTH

    p = command(commands, "write", summary="write the given text by hand",
                            description="Text to handwriting (Graves section 5); long text "
                            "is wrapped into lines written in one style. With --page (or "
                            "-o .gcode/.hpgl) it is laid out on paper in mm: .svg for "
                            "plotters, .png previews, .gcode (GRBL) and .hpgl; a letter "
                            "longer than a page goes on numbered files, one per page.")
    p.add_argument("text", nargs="?", help="the text to write (or --file)")
    p.add_argument("--file", help="text file to write: each line a paragraph, blank lines "
                   "kept, leading spaces indent")
    p.add_argument("-o", "--output", required=True, help="output file (.svg .png .gif .npz "
                   ".inkml; on paper .svg .png .gcode .hpgl)")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--style", type=style_choice, default=None,
                   help="a saved style's name (see `handwriter style`), or a number: every "
                   "line is primed with the model's own writing for that seed (default: no "
                   "priming; on paper, the --seed's style, so a letter is in one hand)")
    p.add_argument("--prime", help="ink file whose first line sets the style (one line of "
                   f"at most {MAX_PRIMER_POINTS} points once resampled)")
    p.add_argument("--prime-text", help="transcription of the primer line (default: the "
                   "file's)")
    p.add_argument("--width", type=int,
                   help="characters per line without --page; the shipped model trained on "
                   f"lines up to about 50 characters (default: {LINE_WIDTH})")
    p.add_argument("--line-height", type=float,
                   help=f"page units between lines without --page (default: {LINE_HEIGHT:g})")
    p.add_argument("--reader", help="recogniser that picks the draft reading best as the text "
                   "(default: the one shipped)")
    p.add_argument("--split", action="store_true", help="one numbered file per line")
    p.add_argument("--show-travel", action="store_true",
                   help="on a .png page, draw the pen-up moves in red (plotting order)")
    add_config_flags(p, SampleConfig, skip=("n",), base=WRITING)
    add_config_flags(p.add_argument_group(
        "on paper", "any of these (or -o .gcode/.hpgl) lays the text out on a sheet in mm; "
        "without them the lines are written as they come"), PageConfig)
    add_config_flags(p.add_argument_group("plotter files (on paper)"), PlotterConfig)
    add_config_flags(p.add_argument_group(
        "pen", "--color colours every picture; the rest draw a sheet's .png"), PenStyle)
    p.set_defaults(run=cmd_write, n=1)


def add_train(commands: argparse._SubParsersAction) -> None:
    from .model import ModelConfig
    from .train import TrainConfig

    p = command(commands, "train", summary="train a model on a lines.npz",
                            description="Train Graves' prediction network, or with "
                            "--synthesis the text-conditioned one. Ctrl-C saves; --resume "
                            "continues exactly.")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt")
    add_config_flags(p, TrainConfig)
    add_config_flags(p, ModelConfig, skip=("alphabet", "chars_per_step", "style_table"))
    p.set_defaults(run=cmd_train)


def add_train_reader(commands: argparse._SubParsersAction) -> None:
    from .reader import ReaderConfig, ReaderTrainConfig

    p = command(commands, "train-reader", summary="train the recogniser that reads ink back",
                            description="A bidirectional LSTM with CTC, trained on lines with "
                            "transcriptions. `write` uses it to keep the draft that reads "
                            "best as its text. Ctrl-C saves; --resume continues exactly.")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt (same flags)")
    add_config_flags(p, ReaderTrainConfig)
    add_config_flags(p, ReaderConfig, skip=("alphabet",))
    p.set_defaults(run=cmd_train_reader)


def add_train_text(commands: argparse._SubParsersAction) -> None:
    from .text_model import TextModelConfig, TextTrainConfig

    p = command(commands, "train-text", summary="train the character model that drafts text "
                            "for `sample`", description="An LSTM over the characters of the "
                            "training writers' transcriptions, validated on the validation "
                            "writers'. Ctrl-C saves; --resume continues exactly.")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt (same flags)")
    add_config_flags(p, TextTrainConfig)
    add_config_flags(p, TextModelConfig, skip=("alphabet",))
    p.set_defaults(run=cmd_train_text)


def add_read(commands: argparse._SubParsersAction) -> None:
    p = command(commands, "read", summary="read ink back as text (the shipped recogniser)",
                            description="Prints what the recogniser reads on each line of an "
                            "ink file, and the file's transcription after a tab if it has one.")
    p.add_argument("file", help="ink file (.npz .inkml, UNIPEN, ...)")
    p.add_argument("--model", help="reader checkpoint (default: the one shipped)")
    p.set_defaults(run=cmd_read)


def add_eval(commands: argparse._SubParsersAction) -> None:
    p = command(commands, "eval", summary="negative log-likelihood on held-out writers")
    p.add_argument("--model", required=True, help="checkpoint, or synthesis or unconditional "
                   "for a model shipped with handwriter")
    p.add_argument("--data", required=True, help="ink file: lines.npz, or any format "
                   "`data convert` reads")
    p.add_argument("--split", default="valid", choices=["train", "valid", "test", "all"],
                   help="writer-disjoint split, as in training, or all: every line of the "
                   "file, e.g. a held-out set of your own (default: valid)")
    p.add_argument("--text-lines", action="store_true",
                   help="only the lines a synthesis model trains on (for comparing the two)")
    p.add_argument("--max-points", type=int,
                   help="with text, skip lines longer than this (default: as in training)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_eval)


def add_style(commands: argparse._SubParsersAction) -> None:
    from .adapt import ADAPT_FROM, AdaptConfig

    p = command(commands, "style", summary="keep your own hand as a style to write in",
                            description="Styles are lines of your own ink with what they say, "
                            "kept on this machine (in the user data folder, or "
                            "$HANDWRITER_DATA_DIR/styles); `write --style NAME` writes in one. "
                            "From three lines or more the network is adapted to them (about "
                            "a minute); from fewer, the style is read from them.")
    style = p.add_subparsers(dest="style_command", required=True, metavar="STYLE_COMMAND")
    q = command(style, "add", summary="save lines of your ink as a style",
                         description="Saves every line of the ink files (InkML from tablet and "
                         "note apps, IAM-OnDB, UNIPEN, lines.npz, stroke-3). Each line's text "
                         "comes from --text, else the file, else the recogniser reads it: at a "
                         "terminal you may correct it.")
    q.add_argument("name", help="the style's name: letters, digits, '-' or '_'")
    q.add_argument("ink", nargs="+", help="ink files, one or more lines each")
    q.add_argument("--text", action="append", help="what a line says; once per line, in order")
    q.add_argument("--replace", action="store_true", help="replace a style of that name")
    q.add_argument("--model", help="synthesis checkpoint whose alphabet the text must use "
                   "(default: the one shipped)")
    q.add_argument("--reader", help="recogniser for lines without text (default: the one "
                   "shipped)")
    q.add_argument("--no-adapt", dest="adapt", action="store_false",
                   help=f"only read the style from the lines (with {ADAPT_FROM} lines or more "
                   "the network is adapted to them by default: more of your hand)")
    q.add_argument("--minutes", type=float, default=AdaptConfig.minutes,
                   help="the longest adapting may take (default: %(default)s)")
    q.add_argument("--share", type=float, default=AdaptConfig.share,
                   help="how far the style moves from its reading toward the fit to your "
                   "lines, 0-1: more of your hand, harder to read (default: %(default)s)")
    command(style, "list", summary="the saved styles: lines, points and what they say")
    q = command(style, "show", summary="print a style's text; draw it with -o")
    q.add_argument("name")
    q.add_argument("-o", "--output", help="picture (.png .svg .gif): each of its lines, then "
                   "the same text written in the style; .inkml: its lines")
    q.add_argument("--seed", type=int, default=0, help="of the written lines (default: 0)")
    q.add_argument("--model", help="synthesis checkpoint that writes them (default: the one "
                   "shipped)")
    q = command(style, "remove", summary="delete a saved style")
    q.add_argument("name")
    p.set_defaults(run=cmd_style)


def add_data(commands: argparse._SubParsersAction) -> None:
    p = command(commands, "data", summary="convert, summarise and look at ink data")
    data = p.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    q = command(data, "convert", summary="any supported format -> the lines.npz layout")
    q.add_argument("source", help="a file; or a folder: of .inkml files, IAM-OnDB's (holding "
                   "lineStrokes/), or a UNIPEN release's root (holding data/ and include/)")
    q.add_argument("-o", "--output", required=True, help="lines.npz to write")
    q.add_argument("--format", choices=FORMATS, help="input format (default: guessed)")
    q = command(data, "stats", summary="lines, writers, points per line and per character")
    q.add_argument("file")
    q.add_argument("--format", choices=FORMATS, help="input format (default: guessed)")
    q = command(data, "show", summary="draw lines of a file")
    q.add_argument("file")
    q.add_argument("--index", type=int, nargs="+", default=[0],
                   help="line numbers (from 0; default: 0, the first line)")
    q.add_argument("-o", "--output", required=True, help="picture (.png .svg .gif)")
    q.add_argument("--format", choices=FORMATS, help="input format (default: guessed)")
    p.set_defaults(run=cmd_data)


# SampleConfig fields of a real person's hand, for commands that write in none
# what the figures' one line, one draft and no style leave out of SampleConfig's flags
ONE_DRAFT = ("n", "candidates", "segment", "style_drafts", "style_strength", "lean")


def add_plot(commands: argparse._SubParsersAction) -> None:
    from .sample import WRITING, SampleConfig

    p = command(commands, "plot", summary="look inside a model (Graves figures 10 and 12)")
    plot = p.add_subparsers(dest="plot_command", required=True, metavar="PLOT")
    q = command(plot, "density", summary="predictive density along a sampled line (fig. 10)")
    q.add_argument("--model", help=MODEL_HELP)
    q.add_argument("-o", "--output", required=True, help="figure to write (.png .svg .pdf)")
    add_config_flags(q, SampleConfig, skip=ONE_DRAFT)
    q = command(plot, "attention", summary="window weights over the text (fig. 12)")
    q.add_argument("--text", required=True, help="text to write")
    q.add_argument("--model", help=MODEL_HELP)
    q.add_argument("-o", "--output", required=True, help="figure to write (.png .svg .pdf)")
    add_config_flags(q, SampleConfig, skip=ONE_DRAFT, base=WRITING)
    p.set_defaults(run=cmd_plot, n=1)


def add_export(commands: argparse._SubParsersAction) -> None:
    p = command(commands, "export", summary="strip a checkpoint for shipping (fp16 weights)")
    p.add_argument("checkpoint", help="a training checkpoint (runs/NAME/best.pt)")
    p.add_argument("-o", "--output", required=True, help="the model file to write (.pt)")
    p.add_argument("--full-precision", action="store_true", help="keep fp32 weights")
    p.add_argument("--neatness", action="store_true",
                   help="measure the direction of untidy hands among the model's learnt "
                   "training-writer styles (--writer-styles), so that a style is written at "
                   "least a little neater than no style (about 10 minutes on one thread)")
    p.add_argument("--reader", help="reader checkpoint that judges --neatness (default: "
                   "the shipped one)")
    p.add_argument("--threads", type=int, default=1, help="threads for --neatness (default: 1)")
    p.set_defaults(run=cmd_export)


def add_serve(commands: argparse._SubParsersAction) -> None:
    from .studio import StudioConfig

    p = command(commands, "serve", summary="the studio: write, watch and draw in a browser",
                            description="A web page to type text and watch the model write it "
                            "live, write new lines from nothing, draw your own hand and save it "
                            "as a style, and download SVG, PNG, GIF, InkML or plotter files "
                            "(SVG in mm, G-code, HPGL).")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    add_config_flags(p, StudioConfig)
    p.set_defaults(run=cmd_serve)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library's `warnings.warn` as the command's one-line warning."""
    warn([str(message)])


def read_text(path: str, flag: str) -> str:
    """The UTF-8 text file a flag names, or an error that names both."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{flag} {path}: not a UTF-8 text file (byte {e.start})") from None
    except OSError as e:
        raise ValueError(f"{flag} {said(e)}") from None


def check_output(path: str) -> None:
    """An output nobody could write is said before the work, not after minutes of it."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise ValueError(f"-o {path}: there is no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"-o {path}: the folder {folder} cannot be written to")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "output", None):
            check_output(args.output)
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            return args.run(args)
    except KeyboardInterrupt:
        print("handwriter: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `handwriter data stats x.npz | head`: the reader had enough
        sys.stderr.close()
        return 0
    except (InkError, ValueError, OSError) as e:
        if args.debug:
            raise
        print(f"handwriter: error: {said(e)}", file=sys.stderr)
        return 2


def said(error: Exception) -> str:
    """An error as one line that starts with the file, without Python's "[Errno 2]"."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror[0].lower()}{error.strerror[1:]}"
    return str(error)


if __name__ == "__main__":
    sys.exit(main())
