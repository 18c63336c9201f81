"""The OpenLineage parent of a run: which run started this one (an Airflow task) and the root of the
hierarchy (its DAG run), so DAG -> task -> Spark job -> datasets form one graph.

The parent comes in through the environment, as the OpenLineage integrations pass it to a child
process (openlineage-dbt, the Airflow provider's ``lineage_parent_id`` macro):
``OPENLINEAGE_PARENT_ID="<namespace>/<job name>/<run id>"`` and, optionally,
``OPENLINEAGE_ROOT_PARENT_ID`` in the same form. A missing root means the parent is the root.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from openlineage.client.facet_v2 import parent_run

logger = logging.getLogger(__name__)

PARENT_ID_ENV = "OPENLINEAGE_PARENT_ID"
ROOT_PARENT_ID_ENV = "OPENLINEAGE_ROOT_PARENT_ID"


@dataclass(frozen=True)
class RunRef:
    """One run of one job: ``namespace``/``name`` identify the job, ``run_id`` (a UUID) the run."""

    namespace: str
    name: str
    run_id: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}/{self.run_id}"


@dataclass(frozen=True)
class ParentRun:
    """The run that started this one, and the root run of the whole hierarchy."""

    parent: RunRef
    root: RunRef

    def facet(self) -> parent_run.ParentRunFacet:
        """The ``parent`` run facet (OpenLineage ParentRunFacet: ``job``, ``run`` and ``root``).

        No forwarded ``facets`` of the parent (None, so not serialised): the shape is then exactly
        ParentRunFacet 1-1-0's, which Marquez's model reads.
        """
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=self.parent.run_id, facets=None),
            job=parent_run.Job(namespace=self.parent.namespace, name=self.parent.name, facets=None),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=self.root.run_id, facets=None),
                job=parent_run.RootJob(
                    namespace=self.root.namespace, name=self.root.name, facets=None
                ),
            ),
        )

    def env(self) -> dict[str, str]:
        """The environment variables that hand this parent to a child process."""
        return {PARENT_ID_ENV: str(self.parent), ROOT_PARENT_ID_ENV: str(self.root)}


def parse_run_ref(value: str) -> RunRef:
    """``"<namespace>/<job name>/<run id>"`` as a ``RunRef``.

    The namespace is the first segment and the run id the last, so a job name may contain ``/``.

    Raises:
        ValueError: fewer than three non-empty segments, or a run id that is not a UUID.
    """
    head, _, run_id = value.strip().rpartition("/")
    namespace, _, name = head.partition("/")
    if not (namespace and name and run_id):
        raise ValueError(f"expected <namespace>/<job name>/<run id>, got {value!r}")
    try:
        uuid.UUID(run_id)
    except ValueError:
        raise ValueError(f"run id {run_id!r} of {value!r} is not a UUID") from None
    return RunRef(namespace, name, run_id)


def parent_from_env(environ: Mapping[str, str]) -> ParentRun | None:
    """The parent handed down in ``environ``, or None when there is none.

    Lineage never breaks a run: a malformed parent is logged and ignored (the run is recorded without
    a parent), a malformed root is logged and replaced by the parent.
    """
    value = environ.get(PARENT_ID_ENV, "").strip()
    if not value:
        return None
    try:
        parent = parse_run_ref(value)
    except ValueError as exc:
        logger.warning("%s ignored, lineage runs get no parent: %s", PARENT_ID_ENV, exc)
        return None
    root = parent
    root_value = environ.get(ROOT_PARENT_ID_ENV, "").strip()
    if root_value:
        try:
            root = parse_run_ref(root_value)
        except ValueError as exc:
            logger.warning(
                "%s ignored, the parent is taken as the root: %s", ROOT_PARENT_ID_ENV, exc
            )
    return ParentRun(parent=parent, root=root)
