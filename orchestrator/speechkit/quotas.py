"""The quotas more than one API spends: the submissions of asynchronous recognition (v2
and v3 share them) and its billable audio per day."""

from __future__ import annotations

from orchestrator.core import constants as c
from orchestrator.core.apis import QuotaDecl, QuotaKind
from orchestrator.core.quota import AUDIO_QUOTA, SUBMIT_QUOTA

DAY_S = 86400.0

SUBMISSIONS = QuotaDecl(
    name=SUBMIT_QUOTA,
    title="recognition requests (v2 and v3)",
    kind=QuotaKind.WINDOW,
    limit=c.SUBMIT_QUOTA_PER_HOUR,
    window_s=c.QUOTA_WINDOW_S,
    config_key="submissions",
)
DAILY_AUDIO = QuotaDecl(
    name=AUDIO_QUOTA,
    title="billable audio",
    kind=QuotaKind.DAILY,
    limit=c.AUDIO_HOURS_PER_DAY * 3600,
    window_s=DAY_S,
    config_key="audio_hours_per_day",
    config_scale=3600.0,
    wait_field="daily_wait_s",
)
