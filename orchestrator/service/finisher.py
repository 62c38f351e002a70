"""A manifest whose jobs have all ended gets its report, and its file is filed away."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.config import HooksConfig, PathsConfig
from orchestrator.core.destinations import FILES_ONLY, Destinations
from orchestrator.core.hooks import Hook
from orchestrator.core.jobs import ManifestStatus
from orchestrator.core.refs import ObjectRef
from orchestrator.intake.filing import file_finished
from orchestrator.outputs.files import write_atomic, write_error
from orchestrator.outputs.report import build_report, render_report_json, render_report_text
from orchestrator.service.export import ResultsAt, atomic_file, export_rows, upload_file
from orchestrator.speechkit.catalogue import CATALOGUE
from orchestrator.storage.protocol import ObjectStorage
from orchestrator.store.protocol import Store
from orchestrator.telemetry.logs import get_logger

log = get_logger()

# The dataset a manifest asks for (``outputs: [..., dataset]``), beside its report.
DATASET_FILE = "dataset.jsonl"


class Finisher:
    """Writes ``report.json``/``report.txt`` beside a manifest's results (where ``results``
    says: on disk, as objects, or both: the files first) and moves its file to
    ``processed/`` (or ``failed/`` when a job failed), once.

    The report is written once every job of the manifest has ended, so its JSON, written
    last, tells a downstream system that the manifest's results are all there."""

    def __init__(
        self,
        store: Store,
        paths: Callable[[], PathsConfig],
        clock: Callable[[], float] = time.time,
        node: str | None = None,
        storage: ObjectStorage | None = None,
        results: Destinations = FILES_ONLY,
        hooks: Callable[[], HooksConfig] | None = None,
        on_hooks: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.paths = paths  # read at each call: a reload may change them
        self.clock = clock
        # This daemon's node: it finishes the manifests it took in (their files and
        # results are on its disk); None: every manifest.
        self.node = node
        self.storage = storage
        # Without object storage the files are the only place.
        self.results = results if storage is not None else FILES_ONLY
        # The config's hooks (read at each finish: a reload may change them), and what to
        # call once a finish has added deliveries (the hooks' runner wakes).
        self.hooks = hooks
        self.on_hooks = on_hooks
        # The last error said of each manifest: the same one is not said again at each try.
        self._errors: dict[int, str] = {}

    async def finish_all(self) -> None:
        """Finish every manifest whose jobs have all ended. One that cannot be finished now
        (its report cannot be written: a full disk, say) is logged and left for the next
        call; the others are finished all the same."""
        store = self.store
        todo = await store.manifests_to_finish(self.node)
        if not todo:
            return
        by_id = {m.id: m for m in await store.manifests()}
        paths = self.paths()
        for manifest_id in todo:
            manifest = by_id[manifest_id]
            try:
                await self._finish(manifest, paths)
            except Exception as exc:
                error = write_error(exc) if isinstance(exc, OSError) else str(exc)
                if self._errors.get(manifest_id) != error:
                    # A bug (not a disk's trouble) is said with its traceback, once.
                    log.error(
                        "manifest.finish_error",
                        manifest=manifest.name,
                        manifest_id=manifest_id,
                        error=error,
                        exc_info=not isinstance(exc, OSError),
                    )
                self._errors[manifest_id] = error
            else:
                self._errors.pop(manifest_id, None)

    async def _finish(self, manifest: ManifestStatus, paths: PathsConfig) -> None:
        """Write one manifest's report and file its manifest away."""
        store, manifest_id = self.store, manifest.id
        jobs = await store.manifest_jobs(manifest_id)
        now = self.clock()
        parts = await store.manifest_parts(manifest_id)
        report = build_report(manifest, jobs, now, CATALOGUE, parts)
        if any(job.output_options.dataset for job in jobs):
            # Before the report: its JSON, written last, says all the results are there.
            report["dataset"] = await self._dataset(manifest)
        report_path, report_object = await self._write(
            manifest.name, render_report_json(report), render_report_text(report)
        )
        target = await file_finished(manifest, paths.processed, paths.failed)
        hooks = await self._hooks_of(manifest_id)
        # The deliveries are added with the finish, in one transaction: a crash after it
        # leaves them pending for the next start.
        await store.finish_manifest(manifest_id, report_path, str(target), now, hooks)
        if hooks and self.on_hooks is not None:
            self.on_hooks()
        log.info(
            "manifest.finished",
            manifest=manifest.name,
            manifest_id=manifest_id,
            counts=report["counts"],
            # Counted apart: jobs the operator cancelled did not fail.
            failed=report["counts"].get("failed", 0),
            cancelled=report["counts"].get("cancelled", 0),
            audio_hours=report["audio_hours"],
            billable_units=report["billable_units"],
            saved_units=report["saved_units"],
            submissions=report["submissions"],
            status_checks=report["status_checks"],
            elapsed_s=report["elapsed_s"],
            report=report_path,
            report_object=report_object,
            manifest_file=str(target),
        )

    async def _dataset(self, manifest: ManifestStatus) -> dict[str, Any] | None:
        """Write the manifest's dataset where its results go (a file, then an object);
        what it holds and where. None when its JSON outputs are not all JSON (said once in
        the log: the manifest finishes all the same)."""
        folder = self.paths().output / manifest.name
        where = ResultsAt(self.results, self.paths().output, self.storage)
        try:
            if self.results.disk:
                path = folder / DATASET_FILE
                async with atomic_file(path) as handle:
                    done = await export_rows(self.store, manifest, where, "jsonl", handle)
                found: dict[str, Any] = {"file": str(path)}
                found.update(await self._upload_dataset(manifest.name, path))
            else:
                with tempfile.TemporaryDirectory(prefix="dataset-") as scratch:
                    path = Path(scratch) / DATASET_FILE
                    with path.open("wb") as handle:
                        done = await export_rows(self.store, manifest, where, "jsonl", handle)
                    found = await self._upload_dataset(manifest.name, path)
        except ValueError as exc:
            log.error("manifest.dataset_failed", manifest=manifest.name, error=str(exc))
            return None
        found.update(jobs=done.jobs, rows=done.rows, missing=done.missing)
        log.info("manifest.dataset", manifest=manifest.name, manifest_id=manifest.id, **found)
        return found

    async def _upload_dataset(self, name: str, path: Path) -> dict[str, str]:
        """The dataset put as an object too, when the results go to objects."""
        prefix = self.results.objects_prefix
        if self.storage is None or prefix is None:
            return {}
        key = f"{prefix}{name}/{DATASET_FILE}"
        await upload_file(self.storage, key, path)
        return {"object": str(ObjectRef(self.storage.bucket, key))}

    async def _hooks_of(self, manifest_id: int) -> tuple[Hook, ...]:
        """The config's hooks, then the manifest's own."""
        config = self.hooks() if self.hooks is not None else HooksConfig()
        own = await self.store.manifest_on_finish(manifest_id)
        mine = own.hooks("manifest") if own is not None else ()
        return (*config.on_finish.hooks("config"), *mine)

    async def _write(self, name: str, as_json: str, as_text: str) -> tuple[str, str | None]:
        """Write a manifest's report (text first, JSON last): as files, then as objects,
        as configured. Where it is (the file when there is one, else the object), and the
        object's link when there is one."""
        found: str | None = None
        if self.results.disk:
            folder = self.paths().output / name
            await asyncio.to_thread(write_atomic, folder / "report.txt", as_text)
            await asyncio.to_thread(write_atomic, folder / "report.json", as_json)
            found = str(folder / "report.json")
        prefix = self.results.objects_prefix
        if self.storage is None or prefix is None:
            assert found is not None
            return found, None
        key = f"{prefix}{name}/report"
        await self.storage.put_text(f"{key}.txt", as_text)
        await self.storage.put_text(f"{key}.json", as_json)
        uploaded = str(ObjectRef(self.storage.bucket, f"{key}.json"))
        return found or uploaded, uploaded
