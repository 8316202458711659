"""The CLI reference page, written from the parser itself so that no command or flag can go undocumented."""

from __future__ import annotations

import argparse
from typing import Iterator

HEADER = ("# CLI reference\n\nGenerated from `evohybrid`'s own parser when the site is built. Every mistake in a "
          "command line ends with one line that says what to do and exit status 2.\n")


def commands(parser: argparse.ArgumentParser, path: str = "evohybrid") -> Iterator[tuple[str, str,
                                                                                          argparse.ArgumentParser]]:
    """(command path, one-line help, parser) of every command under `parser`, nested ones included, in order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", helps.get(name, ""), sub
                yield from commands(sub, f"{path} {name}")


def options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """The arguments a user types: flags and positionals, not help or the sub-command selector."""
    for action in parser._actions:
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            yield action


def reference_markdown(parser: argparse.ArgumentParser) -> str:
    """The whole page: one section per command with its usage and a table of its arguments."""
    sections = [HEADER, "## evohybrid\n", _usage(parser), _table(parser)]
    for path, help_text, sub in commands(parser):
        sections += [f"## {path}\n", f"{help_text[:1].upper()}{help_text[1:]}.\n" if help_text else "",
                     _usage(sub), _table(sub)]
    return "\n".join(section for section in sections if section)


def _usage(parser: argparse.ArgumentParser) -> str:
    usage = parser.format_usage().strip().removeprefix("usage: ")
    return f"```\n{usage}\n```\n"


def _table(parser: argparse.ArgumentParser) -> str:
    rows = [f"| {_names(action)} | {_cell(_help(parser, action))} |" for action in options(parser)]
    return "| argument | meaning |\n|---|---|\n" + "\n".join(rows) + "\n" if rows else ""


def _names(action: argparse.Action) -> str:
    names = ", ".join(f"`{name}`" for name in action.option_strings) or f"`{action.metavar or action.dest}`"
    if action.option_strings and action.nargs != 0:
        names += f" *{action.metavar or action.dest.upper()}*"
    return names


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    text = parser._get_formatter()._expand_help(action) if action.help else ""  # fills in %(default)s and the like
    if action.choices and not isinstance(action.choices, dict) and "one of" not in text:
        text += f" (one of {', '.join(map(str, action.choices))})"
    return text


def _cell(text: str) -> str:
    """One table cell: a pipe would end the cell, a newline the row, and <name> would be read as HTML."""
    text = " ".join(text.split())
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("*", "\\*")):
        text = text.replace(char, escaped)
    return text
