"""Settings of the limits tests' runreplica: the project's, with tiny concurrency limits."""

from config.settings import *  # noqa: F403
from config.settings import ICFRAMEWORK as PROJECT_ICFRAMEWORK

ICFRAMEWORK = {**PROJECT_ICFRAMEWORK, "MAX_CONCURRENT_REQUESTS": 2,
               "REQUEST_QUEUE_SECONDS": 0.1, "MAX_WEBSOCKETS": 1}
