"""outreach: personal outreach at scale, written down as rules and carried out on time."""

import os
import time

__version__ = "0.1.0"


def _usable_tz() -> None:
    """outreach never uses the machine's time zone (each contact has theirs, the workspace
    a default); a TZ variable that names no zone (`TZ=:/proc/self/environ`) would stop Babel
    as it is imported, so it is set aside."""
    if "TZ" not in os.environ:
        return
    try:
        import babel.localtime  # noqa: F401  # reads TZ as it is imported
    except Exception:
        del os.environ["TZ"]
        time.tzset()


_usable_tz()
