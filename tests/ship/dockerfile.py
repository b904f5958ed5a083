"""A small Dockerfile reader for the instructions our Dockerfile uses (there is no Docker engine here).

Understands comments and parser directives, ``\\`` line continuations, ``--flag=value`` options
(``FROM --platform``, ``COPY --from``, ``RUN --mount``, ``HEALTHCHECK --interval``), ``FROM image AS name``,
``ENV key=value …`` (quoted values too), ``HEALTHCHECK [options] CMD …`` and the exec (JSON array) and shell
forms of ``RUN``/``CMD``/``ENTRYPOINT``. Anything it cannot read is a :class:`DockerfileError` naming the
line, never a silent guess.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

_FLAG = re.compile(r"--([a-z-]+)(?:=(\S*))?")
_DIRECTIVE = re.compile(r"#\s*([a-z]+)\s*=\s*(\S+)\s*$")


class DockerfileError(ValueError):
    pass


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    flags: dict[str, str]
    args: str
    """What follows the keyword and its ``--flags``, continuations joined with single spaces."""

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON-array form of RUN/CMD/ENTRYPOINT (and of HEALTHCHECK's CMD), else ``None``."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            keyword, _, text = text.partition(" ")
            if keyword.upper() != "CMD":
                return None
        text = text.strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DockerfileError(f"line {self.line}: {self.keyword} is not a valid JSON array: {exc}") from exc
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise DockerfileError(f"line {self.line}: {self.keyword} exec form must be an array of strings")
        return value

    def mounts(self) -> list[dict[str, str]]:
        """``RUN --mount=type=bind,from=build,…`` options, one dict per mount."""
        return [dict(part.split("=", 1) for part in value.split(",")) for value in self._flag_values("mount")]

    def _flag_values(self, name: str) -> list[str]:
        return [value for key, value in _all_flags(self.flags) if key == name]


def _all_flags(flags: dict[str, str]) -> list[tuple[str, str]]:
    # A flag may repeat (two --mount); they are stored as name, name#2, …
    return [(key.split("#", 1)[0], value) for key, value in flags.items()]


@dataclass
class Stage:
    index: int
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            values.update(parse_env(instruction))
        return values


@dataclass(frozen=True)
class Dockerfile:
    directives: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)


def parse_env(instruction: Instruction) -> dict[str, str]:
    words = shlex.split(instruction.args)
    if words and "=" not in words[0]:  # legacy form: ENV KEY value with spaces
        return {words[0]: instruction.args.split(None, 1)[1] if len(words) > 1 else ""}
    values = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise DockerfileError(f"line {instruction.line}: ENV {word!r} is not KEY=value")
        values[key] = value
    return values


def _logical_lines(text: str) -> tuple[dict[str, str], list[tuple[int, str]]]:
    directives: dict[str, str] = {}
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    in_header = True
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if in_header and (match := _DIRECTIVE.fullmatch(stripped)):
            directives[match.group(1)] = match.group(2)
            continue
        in_header = False
        if not stripped or stripped.startswith("#"):
            continue  # comments and blank lines may sit inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        lines.append((start, " ".join(part for part in pending if part)))
        pending = []
    if pending:
        raise DockerfileError(f"line {start}: the file ends inside a continued instruction")
    return directives, lines


def _split_flags(rest: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        match = _FLAG.fullmatch(word)
        if match is None:
            raise DockerfileError(f"cannot read the flag {word!r}")
        name = match.group(1)
        key, n = name, 1
        while key in flags:
            n += 1
            key = f"{name}#{n}"
        flags[key] = match.group(2) or ""
        rest = rest.lstrip()
    return flags, rest


def parse(text: str) -> Dockerfile:
    directives, lines = _logical_lines(text)
    stages: list[Stage] = []
    for number, line in lines:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        try:
            flags, args = _split_flags(rest.strip())
        except DockerfileError as exc:
            raise DockerfileError(f"line {number}: {exc}") from exc
        instruction = Instruction(number, keyword, flags, args)
        if keyword == "FROM":
            words = args.split()
            if len(words) == 1:
                stages.append(Stage(len(stages), words[0], None))
            elif len(words) == 3 and words[1].upper() == "AS":
                stages.append(Stage(len(stages), words[0], words[2]))
            else:
                raise DockerfileError(f"line {number}: FROM must be 'image' or 'image AS name': {args!r}")
            continue
        if not stages:
            if keyword == "ARG":
                continue  # a global ARG before the first FROM
            raise DockerfileError(f"line {number}: {keyword} before any FROM")
        stages[-1].instructions.append(instruction)
    return Dockerfile(directives, stages)


def load(path: Path) -> Dockerfile:
    return parse(path.read_text())
