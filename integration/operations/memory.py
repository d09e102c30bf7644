"""What a long-running process loaded at its start, kept out of the garbage collector's sight.

A web worker loads about 190,000 objects before its first request (modules, the store's models,
the API's schemas, the translation catalogs), a job worker about 145,000 before its first job, and
they live as long as the process does. Python's full collection looks at every one of them each
time it runs: 120 ms in a web worker at rest on this project's 2-core machine (80 ms in a job
worker) and 290 – 510 ms under load, during which none of the process's threads goes on (every
request a web worker holds waits that long). Once the process has
loaded what it needs, those objects are moved to the collector's permanent generation
(`gc.freeze`); what requests and jobs create is collected as before.
"""

from __future__ import annotations

import gc


def keep_loaded_objects() -> None:
    """Collect what loading left behind, then keep every object alive now out of later collections."""
    gc.collect()  # loading's own garbage is freed, not kept for good
    gc.freeze()
