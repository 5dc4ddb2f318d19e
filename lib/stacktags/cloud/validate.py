"""An API request checked against botocore's model of its operation, without calling AWS.

botocore's own ParamValidator checks the parameters' names, types, required members and minimums; a value outside an
enum, a string that breaks the model's pattern or one over its maximum length passes it and fails only at AWS. Those
are checked here too.
"""

from __future__ import annotations

import re
from functools import cache

import botocore.session
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    return botocore.session.get_session().get_service_model(service).operation_model(operation)


def model_errors(shape: Shape, value, path: str) -> list[str]:
    """What ParamValidator leaves out: enums, patterns and maximum lengths or values, at any depth."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return [
            e
            for key, item in value.items()
            if key in shape.members
            for e in model_errors(shape.members[key], item, f"{path}.{key}")
        ]
    if kind == "list" and isinstance(value, list | tuple):
        return [e for i, item in enumerate(value) for e in model_errors(shape.member, item, f"{path}[{i}]")]
    if kind == "map" and isinstance(value, dict):
        return [
            e
            for key, item in value.items()
            for e in model_errors(shape.key, key, f"{path} key") + model_errors(shape.value, item, f"{path}[{key}]")
        ]
    errors = []
    if kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
        pattern = shape.metadata.get("pattern")
        try:
            compiled = re.compile(pattern, re.S) if pattern else None
        except re.error:  # a Java-only construct: AWS checks it
            compiled = None
        if compiled and not compiled.fullmatch(value):
            errors.append(f"{path}: {value!r} does not match {pattern}")
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            errors.append(f"{path}: {len(value)} characters, at most {shape.metadata['max']}")
    if kind in ("integer", "long") and isinstance(value, int) and value > shape.metadata.get("max", value):
        errors.append(f"{path}: {value}, at most {shape.metadata['max']}")
    return errors


def request_errors(service: str, operation: str, params: dict) -> list[str]:
    """Every way `params` is not a valid request of the operation (none: valid)."""
    shape = operation_model(service, operation).input_shape
    report = ParamValidator().validate(params, shape)
    return (report.generate_report().splitlines() if report.has_errors() else []) + model_errors(shape, params, "")
