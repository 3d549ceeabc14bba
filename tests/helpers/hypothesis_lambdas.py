"""A guard against a CPython 3.11.7 bug met through Hypothesis.

Hypothesis names each lambda it is given (e.g. a schemathesis `.filter(lambda ...)`) by `ast.parse`-ing
the lambda's source file. CPython 3.11.7 can fail such a parse deep in a call stack with
"SystemError: AST constructor recursion depth mismatch" (fixed in 3.11.8); whether it does depends on
the stack depth at that moment, which the schema fuzz varies, so about one full run in three failed at
collection. The name only serves reprs and failure reports: on that error, Hypothesis's own
"unknown" description is used instead, and every other error still propagates.
"""

from collections.abc import Callable
from typing import Any

from hypothesis.internal import lambda_sources

_GUARDED = "_sids_guarded"


def guard_lambda_descriptions() -> None:
    """Make Hypothesis describe a lambda as `lambda: <unknown>` when the interpreter fails the parse."""
    describe: Callable[..., str] = lambda_sources._lambda_description
    if getattr(describe, _GUARDED, False):
        return

    def describe_or_unknown(f: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        try:
            return describe(f, *args, **kwargs)
        except SystemError:
            return "lambda: <unknown>"

    setattr(describe_or_unknown, _GUARDED, True)
    lambda_sources._lambda_description = describe_or_unknown
