"""Settings for commands run as subprocesses in a test's own project directory.

``config.settings`` with ``BASE_DIR`` taken from ``ICFRAMEWORK_TEST_PROJECT``, so that
``python manage.py ...`` records canisters, builds apps and keeps replica state there
instead of in the repository.
"""

import os
from pathlib import Path

from config.settings import *  # noqa: F403

BASE_DIR = Path(os.environ["ICFRAMEWORK_TEST_PROJECT"])
