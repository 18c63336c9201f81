"""schemathesis over the decision API's OpenAPI document, shared by the Spark and Trino fuzz tests.

schemathesis' own pytest plumbing (``schema.parametrize`` over a fixture) does not run on pytest 9 (it
sets a removed Item attribute), so each operation's strategy drives a Hypothesis test here.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

OPERATIONS = [
    "GET /api/v1/placement/plans",
    "GET /api/v1/placement/pools/{pool}/plan",
    "GET /api/v1/anomalies/events",
    "GET /api/v1/carbon/daily",
    "GET /api/v1/carbon/recommendations",
]

# The pool plan again with a pool that exists (a generated name is never one): its query parameters
# are then fuzzed against real rows too.
CASES = [(label, None) for label in OPERATIONS] + [(OPERATIONS[1], {"pool": "p1"})]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]

# One valid request per operation that reaches rows of api_dataset, run first (an explicit example)
# so a positive run always shows a 200, however the generated cases fall.
KNOWN_GOOD: dict[str, dict[str, str]] = {
    OPERATIONS[0]: {"pool": "p1"},
    OPERATIONS[1]: {},
    OPERATIONS[2]: {
        "node_id": "n1",
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-11-03T00:00:00Z",
    },
    OPERATIONS[3]: {"provider": "aws"},
    OPERATIONS[4]: {"dt": "2026-11-01"},
}


def fuzz(
    schema: Any,
    label: str,
    path_parameters: dict[str, str] | None,
    mode: GenerationMode,
    headers: dict[str, str],
    examples: int,
) -> list[int]:
    """Send ``examples`` generated requests to one operation; every answer is validated.

    Each must not be a 5xx and must match the document (status declared, content type, response
    schema, negative data refused). Returns the statuses seen; asserts the run was meaningful:
    negative cases met a 400, valid ones reached the data (a 200; a 404 for generated pool names).
    """
    operation = schema.find_operation_by_label(label)
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking of a failure: report it as found
    )
    def check(case: Any) -> None:
        # Every check but positive_data_acceptance: a schema-valid page_token the API did not issue,
        # or start >= end, is a 400 no JSON Schema can describe.
        response = case.call_and_validate(
            headers=headers, excluded_checks=[positive_data_acceptance]
        )
        assert response.status_code < 500, response.text
        statuses.append(response.status_code)

    if mode is GenerationMode.POSITIVE and (label != OPERATIONS[1] or path_parameters):
        known = operation.Case(path_parameters=path_parameters, query=KNOWN_GOOD[label])
        check = example(case=known)(check)
    check()
    if mode is GenerationMode.NEGATIVE:
        expected = 400
    else:
        expected = 404 if label == OPERATIONS[1] and not path_parameters else 200
    assert expected in statuses, sorted(set(statuses))
    return statuses
