"""The test suite.

prometheus-client chooses its multiprocess mode when first imported, from PROMETHEUS_MULTIPROC_DIR:
the tests run the way production does, in a folder of their own that processes they start share.
"""

import atexit
import os
import shutil
import tempfile

os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="storepulse-metrics-")
atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
