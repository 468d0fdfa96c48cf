"""Settings of the live back-pressure test's runreplica: the project's, with a small
canister-socket outbox."""

from config.settings import *  # noqa: F403
from config.settings import ICFRAMEWORK as PROJECT_ICFRAMEWORK

ICFRAMEWORK = {**PROJECT_ICFRAMEWORK, "SOCKET_EVENT_BUFFER": 100}
