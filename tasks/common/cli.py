"""Command-line plumbing shared by the recipes: typed flags from a config dataclass, and clear user errors."""

import argparse
import dataclasses
import sys
import typing


def flag(default, help, **more):  # noqa: A002  (argparse's word)
    """A config dataclass field that becomes a command-line flag with this help text (`choices=` too)."""
    return dataclasses.field(default=default, metadata={"help": help, **more})


@dataclasses.dataclass
class ClassWeightFlags:
    """The flag every classifier recipe shares (a mixin of its config)."""

    class_weights: str = flag("balanced", "weight each example so every class counts the same in the loss "
                                          "(balanced; on balanced labels every weight is 1), or not at all (none)",
                              choices=("balanced", "none"))


class UserError(Exception):
    """A problem with the user's input or flags: reported as one line, exit code 2, no traceback."""


def require_positive(cfg, *names):
    """A UserError naming the flag when one of these config fields is not positive."""
    for name in names:
        if getattr(cfg, name) <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive (got {getattr(cfg, name)}).")


def require_fraction(cfg, *names):
    """A UserError naming the flag when one of these config fields is not in [0, 1)."""
    for name in names:
        if not 0 <= getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be in [0, 1) (got {getattr(cfg, name)}).")


def texts_or_stdin(texts, kind="text"):
    """`texts` (command-line arguments), or else one per line of standard input (a Windows line end too). Bytes that
    are not UTF-8 are one error naming the text: Python hands them over as lone surrogates (or fails reading the
    line, under a UTF-8 locale), which TensorFlow cannot convert."""
    try:
        texts = texts or [line.rstrip("\r\n") for line in sys.stdin]
    except UnicodeDecodeError as error:
        raise UserError(f"standard input is not UTF-8 text (undecodable byte at position {error.start}); give "
                        f"UTF-8 text, one {kind} per line.") from None
    for number, text in enumerate(texts, start=1):
        require_utf8(text, f"{kind} {number}")
    return texts


def require_utf8(text, what):
    """A UserError naming `what` when a command-line text holds bytes that were not UTF-8 (lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{what} is not UTF-8 text (it holds bytes that do not decode); give UTF-8 text.") from None


def run_cli(main, argv=None):
    """Run `main(argv)` and turn a `UserError` into `error: <message>` on stderr and exit code 2."""
    from zoo.quiet import filtered_stderr

    try:
        # oneDNN's "supports DT_BOOL only on platforms with AVX-512 ... Falling back to Eigen" lines come at run time
        # on some CPUs and say nothing the user can act on; every other stderr line passes as it is written.
        with filtered_stderr(("oneDNN supports DT_",)):
            return main(argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last checkpoint", file=sys.stderr)
        raise SystemExit(130) from None


def add_config_flags(parser, config_class):
    """One `--flag-name` per dataclass field, typed by the field's annotation, with its `help` metadata."""
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        if typing.get_origin(kind) is typing.Union or type(kind).__name__ == "UnionType":
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if kind is bool:  # --name / --no-name; a default of None leaves the choice to the recipe (its help says how)
            default = "chosen per model" if field.default is None else field.default
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default,
                                help=f"{field.metadata.get('help', '')} (default: {default})")
            continue
        help_text = f"{field.metadata.get('help', '')} (default: {field.default})"
        parser.add_argument(flag, type=kind, default=field.default, choices=field.metadata.get("choices"),
                            help=help_text)


def recipe_parser(prog, description, config_class):
    """A recipe's parser with its default `train` command (one flag per config field). Returns (parser,
    subparsers) so the recipe can add its other commands."""
    top = Parser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command")
    top.train_parser = commands.add_parser("train", help="train, evaluate and export (the default)")
    add_config_flags(top.train_parser, config_class)
    return top, commands


def dispatch(argv, parser, commands, config_class, train):
    """Parse `argv` (`train` when no command is named) and run it: `commands[name](args)`, or `train(config)`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("train", *commands, "-h", "--help"):
        argv = ["train", *argv]
    args = parser.parse_args(argv)
    if args.command in commands:
        return commands[args.command](args)
    preset = getattr(config_class, "PRESETS", {}).get(getattr(args, "preset", None))
    if preset:  # the preset's values become the defaults: flags given on the command line still win
        parser.train_parser.set_defaults(**preset)
        args = parser.parse_args(argv)
    return train(config_from_args(config_class, args))


def config_from_args(config_class, args):
    return config_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)})


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (`error: ...`, exit code 2), like every other user error."""

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)
