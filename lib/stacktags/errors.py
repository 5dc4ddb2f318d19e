"""Errors a user can act on: a setting, an input, a model version. A job reports them in one line, without a
traceback (stacktags.cli); any other exception is a bug and keeps its traceback."""


class UserError(Exception):
    """Something the user can fix; the message says what and how."""


class ModelMismatchError(UserError, ValueError):
    """A saved model whose parts (tags, thresholds, coefficients, intercepts) disagree, or that this version of
    stacktags cannot read."""
