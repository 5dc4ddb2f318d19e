"""How a job ends: a UserError (a setting, an input, a model version) as one line on stderr and exit status 2;
any other exception is a bug and keeps its traceback. --verbose shows the traceback of a UserError too. The monitor
exits with ALERT_STATUS when it raised alerts."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from stacktags.errors import UserError

USER_ERROR_STATUS = 2
ALERT_STATUS = 3  # the monitor found a figure past its threshold: an orchestrator's step fails, the run itself worked


def run(main: Callable[[], None], argv: list[str] | None = None) -> None:
    """Call a job's main(); exit with USER_ERROR_STATUS and one line when it raises a UserError."""
    args = sys.argv[1:] if argv is None else argv
    try:
        main()
    except UserError as error:
        if "--verbose" in args:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(USER_ERROR_STATUS)
