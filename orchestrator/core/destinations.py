"""Where a job's results and a manifest's report go: files in the output folder, objects
under a prefix, or both (the files first). One rule, for the fetch stage, the finisher and
the lanes that say which daemon may write them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Destinations:
    """The places results are written to; at least one of them."""

    disk: bool  # files under the output folder
    objects_prefix: str | None = None  # objects under this prefix (None: not)

    @property
    def any_node(self) -> bool:
        """Whether any daemon sharing the store may write them: only when they go to
        objects alone (files belong on the disk of the node that took the manifest in)."""
        return not self.disk


def destinations(objects_prefix: str | None, local: bool) -> Destinations:
    """``outputs.s3_prefix`` and ``outputs.local`` as places: with no prefix the disk is
    the only one, whatever ``local`` says."""
    return Destinations(disk=local or objects_prefix is None, objects_prefix=objects_prefix)


FILES_ONLY = Destinations(disk=True)
