"""The jobs the app enqueues, named by dotted path (CONVENTIONS #3: jobs are a wire format).

``jobs/`` sits above the app and imports it; the app never imports ``jobs/``. So each job's path, queue and
timeout are written down here once, and the job modules read their queue and timeout from the same line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vectis.platform.queues import queue


@dataclass(frozen=True)
class Job:
    path: str  # "jobs.sync.run_sync": stable, with its signature (ids only, tenant_id first)
    queue: str
    timeout: int  # seconds

    def enqueue(self, *args: Any, job_id: str | None = None) -> None:
        queue(self.queue).enqueue(self.path, *args, job_id=job_id, job_timeout=self.timeout)

    def enqueue_in(self, delay: timedelta, *args: Any) -> None:
        queue(self.queue).enqueue_in(delay, self.path, *args, job_timeout=self.timeout)


SYNC = Job("jobs.sync.run_sync", "sync", 3600)
TEST_CONNECTION = Job("jobs.sync.test_connection", "interactive", 60)
CALLBACK = Job("jobs.webhooks.process", "sync", 300)
CALLBACK_KEY = Job("jobs.webhooks.verify", "interactive", 60)
RULES = Job("jobs.rules.refresh", "rules", 600)
QUEUED_ACTION = Job("jobs.actions.run_queued", "actions", 300)
MAIL = Job("jobs.mail.deliver", "mail", 60)
# The one job that takes what someone typed rather than an id: finding the account for it is the very work the portal's
# "Forgot your password?" request must not do itself (vectis.portal_access.resets).
RESET_LINK = Job("jobs.portal_mail.send_reset_link", "mail", 60)
# A million rows stream and write in well under a minute; the export's statement timeout (vectis.query.run, five
# minutes) stops a slow query before this does.
QUERY_EXPORT = Job("jobs.exports.run_export", "exports", 900)
