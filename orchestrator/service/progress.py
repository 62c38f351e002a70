"""Progress of every manifest, for `status`, `/status` and the systemd STATUS= line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.core.hooks import HookDelivery
from orchestrator.core.jobs import ManifestStatus, State
from orchestrator.store.protocol import Store


def eta_seconds(manifest: ManifestStatus, now: float) -> float | None:
    """Seconds left at the pace so far; None until a job has ended or when all have."""
    ended, total = manifest.ended, manifest.total
    if manifest.state != "active" or ended == 0 or ended >= total:
        return None
    elapsed = max(0.0, now - manifest.created_at)
    return elapsed / ended * (total - ended)


def manifest_summary(manifest: ManifestStatus, now: float) -> dict[str, Any]:
    """One manifest as a JSON-ready mapping."""
    total = manifest.total
    eta = eta_seconds(manifest, now)
    return {
        "id": manifest.id,
        "name": manifest.name,
        "state": manifest.state,
        "standing": manifest.standing,  # takes new files until closed
        "path": manifest.path,
        "jobs": total,
        "counts": dict(sorted(manifest.counts.items())),
        "progress": round(manifest.ended / total, 4) if total else 1.0,
        "eta_s": None if eta is None else round(eta, 1),
        "report": manifest.report_path,
    }


async def snapshot(store: Store, now: float, *, with_failures: bool = True) -> dict[str, Any]:
    """Every manifest's progress, and each failed job with its reason."""
    manifests = await store.manifests()
    hooks = latest_deliveries(await store.hook_deliveries())
    result: list[dict[str, Any]] = []
    for manifest in manifests:
        summary = manifest_summary(manifest, now)
        summary["hooks"] = [d.to_status() for d in hooks.get(manifest.id, [])]
        if with_failures and manifest.counts.get(State.FAILED.value):
            summary["failures"] = [
                {"job_id": job.id, "source": job.source, "reason": job.error}
                for job in await store.manifest_jobs(manifest.id)
                if job.state is State.FAILED
            ]
        result.append(summary)
    return {"manifests": result, "jobs": await store.counts_by_state()}


def latest_deliveries(deliveries: Sequence[HookDelivery]) -> dict[int, list[HookDelivery]]:
    """Each manifest's hook deliveries of its latest finish (a manifest retried and
    finished again has a set per finish)."""
    latest: dict[int, float] = {}
    for delivery in deliveries:
        latest[delivery.manifest_id] = max(
            delivery.created_at, latest.get(delivery.manifest_id, delivery.created_at)
        )
    found: dict[int, list[HookDelivery]] = {}
    for delivery in deliveries:
        if delivery.created_at == latest[delivery.manifest_id]:
            found.setdefault(delivery.manifest_id, []).append(delivery)
    return found


def status_line(counts: dict[str, int]) -> str:
    """A short line for systemd's STATUS=: jobs by state."""
    if not counts:
        return "idle: no jobs"
    order: Sequence[str] = [s.value for s in State]
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    return "jobs: " + ", ".join(parts)
