"""Loading the settings: the TOML file, the ``ARBTUI_*`` environment laid over it, every problem found
turned into one line naming the key as the operator wrote it."""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from arbtui.config.fields import CLI_ENVIRONMENT, ENV_PREFIX, SECRET_ENVIRONMENT, SECRETS_IN_TOML, ConfigError
from arbtui.config.rules import RULES_ERROR, Origins, rule_problems
from arbtui.config.settings import Settings


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from the TOML file at ``path`` (``None``: none) under ``environ`` (``None``: the
    process environment). Raises :class:`ConfigError` listing every problem found."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    data = _read_toml(path, problems) if path is not None else {}
    _reject_secrets_in_toml(data, problems)
    overrides, origins = _environment_layer(environ, problems)
    merged = _merge(data, overrides)
    rules = rule_problems(merged, origins)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        errors = exc.errors()
        problems += [_describe(error, merged, origins) for error in errors if error["type"] != RULES_ERROR]
        # The raw-value rules say the same as the model's own rule check, and also when a field failed.
        problems += rules or [error["msg"] for error in errors if error["type"] == RULES_ERROR]
        raise ConfigError(problems) from None
    if problems or rules:
        raise ConfigError(problems + rules)
    return settings


Table = TypeVar("Table", bound=BaseModel)


def load_table(path: Path | None, name: str, model: type[Table], environ: Mapping[str, str] | None = None) -> Table:
    """One table, ``[name]``, read exactly as :func:`load_settings` reads the tree (the TOML file, then
    ``ARBTUI_<NAME>__<KEY>`` over it, the same problems in the same words) — for the commands that need
    no ``[chain]`` (``schwab auth``, ``get-pyth-price --rpc --pyth``, the ledger's path)."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    data = _read_toml(path, problems) if path is not None else {}
    _reject_secrets_in_toml(data, problems)
    overrides, origins = _environment_layer(environ, problems)
    merged = _merge(data, overrides)
    try:
        table = model.model_validate(merged.get(name, {}))
    except ValidationError as exc:
        problems += [_describe({**error, "loc": (name, *error["loc"])}, merged, origins) for error in exc.errors()]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return table


def _read_toml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path}: no such file")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot read: {exc}")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: not valid TOML: {exc}")
    return {}


def _reject_secrets_in_toml(data: dict[str, Any], problems: list[str]) -> None:
    for loc, env in SECRETS_IN_TOML.items():
        table: Any = data
        for key in loc[:-1]:  # down to the table that would hold it (``[alerts.telegram]``: two levels)
            table = table.get(key) if isinstance(table, dict) else None
        if isinstance(table, dict) and loc[-1] in table:
            del table[loc[-1]]
            problems.append(
                f"{'.'.join(loc)}: secrets are never read from the config file; remove it and set {env} "
                "in the environment"
            )


def _environment_layer(environ: Mapping[str, str], problems: list[str]) -> tuple[dict[str, Any], Origins]:
    data: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    secrets = {env: field for field, env in SECRET_ENVIRONMENT.items()}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in CLI_ENVIRONMENT:
            continue
        value = environ[name]
        if name in secrets:
            data[secrets[name]] = value
            names[(secrets[name],)] = name
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        target = _env_target(name, parts, problems)
        if target is None:
            continue
        loc, annotation = target
        parsed = _env_value(value, annotation)
        if parsed is _BAD_JSON:
            problems.append(f"{name}: not valid JSON for a {'list' if _origin_is(annotation, tuple) else 'table'}")
            continue
        node = data
        for key in loc[:-1]:
            node = node.setdefault(key, {})
        node[loc[-1]] = parsed
        names[loc] = name
    return data, Origins(names)


def _env_target(name: str, parts: list[str], problems: list[str]) -> tuple[tuple[str, ...], Any] | None:
    """Walk ``ARBTUI_A__B__C`` down the tree; the key path and the annotation it lands on."""
    model: type[BaseModel] | None = Settings
    loc: tuple[str, ...] = ()
    annotation: Any = None
    for index, raw in enumerate(parts):
        if model is None:
            if _origin_is(annotation, dict) and index == len(parts) - 1:
                return (*loc, raw), None
            problems.append(f"{name}: {'.'.join(loc)} has no keys below it")
            return None
        key = raw.lower()
        if (*loc, key) in SECRETS_IN_TOML:
            problems.append(f"{name}: secrets are read from {SECRETS_IN_TOML[(*loc, key)]} only")
            return None
        fields = {k: f for k, f in model.model_fields.items() if k not in SECRET_ENVIRONMENT}
        if key not in fields:
            what = "table" if model is Settings else "key"
            close = _closest(key, fields)
            hint = (
                f" (did you mean {ENV_PREFIX}{''.join(f'{p.upper()}__' for p in loc)}{close.upper()}?)" if close else ""
            )
            if model is Settings and len(parts) == 1:
                problems.append(
                    f"{name}: unknown setting; settings use ARBTUI_<TABLE>__<KEY>, e.g. ARBTUI_CHAIN__OWNER"
                )
            else:
                problems.append(f"{name}: unknown {what} {key!r}{hint}")
            return None
        loc = (*loc, key)
        annotation = fields[key].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if model is not None:
        problems.append(f"{name}: [{'.'.join(loc)}] is a table; set its keys ({name}__<KEY>)")
        return None
    return loc, annotation


_BAD_JSON = object()


def _env_value(value: str, annotation: Any) -> Any:
    if _origin_is(annotation, tuple) or _origin_is(annotation, dict):
        if _origin_is(annotation, tuple) and not value.lstrip().startswith("["):
            return [item.strip() for item in value.split(",") if item.strip()]
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return _BAD_JSON
    if value == "" and NoneType in _union_args(annotation):
        return None
    return value


def _union_args(annotation: Any) -> tuple[Any, ...]:
    return get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()


def _origin_is(annotation: Any, kind: type) -> bool:
    return get_origin(annotation) is kind


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _closest(key: str, known: Mapping[str, Any]) -> str | None:
    close = difflib.get_close_matches(key, list(known), n=1)
    return close[0] if close else None


# --- pydantic errors → operator lines ---------------------------------------------------------


_PLAIN: Mapping[str, str] = {
    "missing": "missing (required)",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}
_WITH_INPUT: Mapping[str, str] = {
    "int_parsing": "not a whole number",
    "int_from_float": "not a whole number",
    "int_type": "not a whole number",
    "float_parsing": "not a number",
    "float_type": "not a number",
    "decimal_parsing": "not a number",
    "decimal_type": "not a number",
    "bool_parsing": "not true or false",
    "bool_type": "not true or false",
    "string_type": "not a string",
    "path_type": "not a string",
}


def _describe(error: Any, data: Mapping[str, Any], origins: Origins) -> str:
    loc = tuple(str(part) for part in error["loc"] if part != "[key]")
    kind: str = error["type"]
    name = origins.name(loc)
    secret = bool(loc) and loc[0] in SECRET_ENVIRONMENT
    if kind == "extra_forbidden":
        return _unknown(loc, data)
    if kind == "missing" and len(loc) == 1 and loc[0] not in SECRET_ENVIRONMENT:
        return f"[{loc[0]}]: missing table"
    if kind in _PLAIN:
        return f"{name}: {_PLAIN[kind]}"
    shown = "" if secret else f": {error['input']!r}"
    if kind in _WITH_INPUT:
        return f"{name}: {_WITH_INPUT[kind]}{shown}"
    if kind in ("greater_than", "greater_than_equal"):
        bound = error["ctx"].get("gt", error["ctx"].get("ge"))
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        relation = "greater than" if kind == "greater_than" else "at least"
        return f"{name}: must be {relation} {bound}, got {error['input']!r}"
    if kind in ("less_than", "less_than_equal"):
        bound = error["ctx"].get("lt", error["ctx"].get("le"))
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        relation = "less than" if kind == "less_than" else "at most"
        return f"{name}: must be {relation} {bound}, got {error['input']!r}"
    if kind == "enum":
        return f"{name}: must be one of {error['ctx']['expected']}, got {error['input']!r}"
    message: str = error["msg"]
    return f"{name}: {message.removeprefix('Value error, ')}"


def _unknown(loc: tuple[str, ...], data: Mapping[str, Any]) -> str:
    node: Any = data
    model: Any = Settings
    for part in loc[:-1]:
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
        fields = getattr(model, "model_fields", {})
        if part in fields:
            model = fields[part].annotation
        elif get_origin(model) is dict:  # a table of tables keyed by the operator (hedging.symbols.TSLA)
            model = get_args(model)[1]
        else:
            model = None
    fields = {k: v for k, v in getattr(model, "model_fields", {}).items() if k not in SECRET_ENVIRONMENT}
    close = _closest(loc[-1], fields)
    spelled = ".".join([*loc[:-1], close]) if close else ""
    if isinstance(node, Mapping) and isinstance(node.get(loc[-1]), Mapping):
        return f"[{'.'.join(loc)}]: unknown table" + (f" (did you mean [{spelled}]?)" if close else "")
    return f"{'.'.join(loc)}: unknown key" + (f" (did you mean {spelled}?)" if close else "")
