"""Every limit and rate limit of the video canister, in one place."""

from __future__ import annotations

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# -- media ---------------------------------------------------------------------------------

# -- social --------------------------------------------------------------------------------

# -- feed ----------------------------------------------------------------------------------
