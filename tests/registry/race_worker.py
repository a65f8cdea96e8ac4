"""Worker for test_registry_race.py: apply a sequence of definitions, starting at a given time.

Usage: python race_worker.py URL PROJECT START_EPOCH STEPS
Step i applies the view with ttl = i days (a breaking change each step) and a feature added
at odd steps. Prints one line per step: the plan's view change kind.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from featurelake.registry import (
    Definitions,
    EntityDef,
    FeatureDef,
    JoinKey,
    ServiceDef,
    ViewDef,
    open_registry,
)


def definitions(step: int) -> Definitions:
    features = [FeatureDef("a", "Float64")] + ([FeatureDef("b", "Int64")] if step % 2 else [])
    view = ViewDef("race_view", ("user",), tuple(features), timedelta(days=1 + step // 2))
    return Definitions(
        entities=(EntityDef("user", (JoinKey("user_id", "INT64"),)),),
        views=(view,),
        services=(ServiceDef("race_service", (("race_view", ("a",)),)),),
    )


def main() -> None:
    url, project, start, steps = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    reg = open_registry(url)
    time.sleep(max(0.0, start - time.time()))
    for step in range(steps):
        plan = reg.apply_definitions(project, definitions(step), actor=f"worker-{sys.argv[5]}")
        print(step, [c.kind for c in plan.changes if c.object_type == "view"][0], flush=True)
    reg.dispose()


if __name__ == "__main__":
    main()
