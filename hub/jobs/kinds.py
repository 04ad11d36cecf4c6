"""Every kind of background job and its deterministic id, in one place: the job modules build their ids
here, and the status page reads the same kinds to tell what a job in RQ is.

An id is built from what the job works on, so the same work asked for twice is one job (a pending id is
not queued again), and the reconcilers, `hub retry` and the admin page find a job from its import,
receipt or delivery.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    name: str    # what the status page calls it
    prefix: str  # its ids: the prefix, then the job's arguments joined by "-"

    def job_id(self, *args: object) -> str:
        return self.prefix + "-".join(str(arg) for arg in args)

    def subject(self, job_id: str) -> str | None:
        """What a job id of this kind works on (its arguments as one string), or None for another kind."""
        return job_id[len(self.prefix):] if job_id.startswith(self.prefix) else None


IMPORT = JobKind("import", "import-")
WRITE_BACK = JobKind("write-back", "write-back-")
RESULTS = JobKind("results", "results-")
MIRROR = JobKind("mirror", "mirror-")
SYNC = JobKind("sync", "sync-")
RECEIPT = JobKind("receipt", "receipt-")
DELIVERY = JobKind("delivery", "deliver-")
DISPATCH = JobKind("dispatch", "dispatch-events")  # one queued dispatch serves every event: no arguments
MATCH = JobKind("match", "match-")
REATTRIBUTE = JobKind("reattribute", "reattribute-")

KINDS = (IMPORT, WRITE_BACK, RESULTS, MIRROR, SYNC, RECEIPT, DELIVERY, DISPATCH, MATCH, REATTRIBUTE)
# Kinds whose subject is an import.
IMPORT_KINDS = (IMPORT, WRITE_BACK)


def kind_of(job_id: str) -> JobKind | None:
    return next((kind for kind in KINDS if job_id.startswith(kind.prefix)), None)
