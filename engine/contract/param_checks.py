"""The one check of an adapter's parameters, shared by everything that takes them: the CLI,
the studio's form, the HTTP API and recipes (through ``AdapterSpec.parse_params`` in
``engine.submit``) and the worker that runs the job. What passes here passes there, so a
job is never recorded only to fail in the worker as INVALID_PARAMS.

Beyond the adapter's pydantic model: no number is a boolean in disguise (``true`` is not 1),
no float is infinite or NaN, and nesting is bounded (a thousand ``[`` is a sentence, not a
RecursionError).
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.errors import ErrorCode, MeshsmithError

MAX_DEPTH = 8  # lists or objects inside one parameter value


def parse(model: type[BaseModel], raw: dict[str, Any], adapter_id: str) -> BaseModel:
    """``raw`` checked and validated; raises MeshsmithError with one sentence."""
    if not isinstance(raw, dict):
        raise _bad(adapter_id, "parameters", "must be a set of NAME=VALUE pairs")
    clean = {key: _checked(adapter_id, str(key), value, 0) for key, value in raw.items()}
    try:
        text = json.dumps(clean, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _bad(adapter_id, "parameters", f"must be plain JSON values ({exc})") from None
    _refuse_bools_as_numbers(model, text, clean, adapter_id)
    try:
        # lax, as the studio's form needs ("5" typed into a text field is 5)
        return model.model_validate(clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "parameters"
        raise _bad(adapter_id, where, first["msg"]) from None


def _refuse_bools_as_numbers(model: type[BaseModel], text: str, clean: dict[str, Any],
                             adapter_id: str) -> None:
    """pydantic's lax mode reads true as 1: where strict mode refuses a value that was a
    true or false, that is the sentence (strict's other refusals, such as "5" for a number,
    are the lax mode's to judge)."""
    try:
        model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        for error in exc.errors():
            if isinstance(_at(clean, error["loc"]), bool):
                where = ".".join(str(p) for p in error["loc"])
                raise _bad(adapter_id, where, "must be a number, not true or false") from None


def _at(value: Any, loc: tuple) -> Any:
    for step in loc:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _checked(adapter_id: str, where: str, value: Any, depth: int) -> Any:
    """``value`` with whole floats as ints (a form's 512.0 is the integer 512; a float
    parameter still takes it), or MeshsmithError."""
    if depth > MAX_DEPTH:
        raise _bad(adapter_id, where, f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad(adapter_id, where, "must be a finite number, not infinity or NaN")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        return {key: _checked(adapter_id, f"{where}.{key}", item, depth + 1)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_checked(adapter_id, f"{where}.{n}", item, depth + 1)
                for n, item in enumerate(value)]
    return value


def _bad(adapter_id: str, where: str, why: str) -> MeshsmithError:
    return MeshsmithError(ErrorCode.INVALID_PARAMS, f"Parameter {where} for {adapter_id}: {why}.")
