"""
The targets of issue 13, printed beside the figures they apply to.

Ratio targets compare an app with the floor measured in the same repetition
(the report's ``x0.92``); value targets apply to the figure itself. A target
is judged on the median over repetitions and is either met or missed; a cell
without a figure (the app was skipped or failed) is missed.
"""

from __future__ import annotations

import dataclasses
import operator

OPERATORS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, "==": operator.eq}


@dataclasses.dataclass(frozen=True)
class Target:
    op: str  # one of OPERATORS
    bound: float
    on: str = "ratio"  # "ratio" (to the floor) or "value"

    def __str__(self) -> str:
        bound = f"{self.bound:g}"
        return f"{self.op} x{bound}" if self.on == "ratio" else f"{self.op} {bound}"

    def met(self, entry: dict | None) -> bool | None:
        """True or False on the median, None when there is nothing to judge."""
        spread = (entry or {}).get(self.on)
        if not spread:
            return None
        return OPERATORS[self.op](spread["median"], self.bound)


def _pair(bare: Target, full: Target) -> dict[str, Target]:
    return {"wsviews-bare": bare, "wsviews": full}


EVERY_APP = "*"
FLAT = {EVERY_APP: Target("<", 2.0, "value")}  # growth in percent

# (workload key, metric key) -> {app key or "*": target}
TARGETS: dict[tuple[str, str], dict[str, Target]] = {
    ("handshake", "handshakes_per_s"): _pair(Target(">=", 0.92), Target(">=", 0.80)),
    ("idle", "kib_per_conn"): _pair(Target("<=", 1.10), Target("<=", 1.20)),
    ("idle", "refused"): {EVERY_APP: Target("==", 0, "value")},
    ("echo-50", "msgs_per_s"): _pair(Target(">=", 0.95), Target(">=", 0.93)),
    ("echo-500", "msgs_per_s"): _pair(Target(">=", 0.95), Target(">=", 0.93)),
    ("echo-50", "p99_ms"): _pair(Target("<=", 1.10), Target("<=", 1.15)),
    ("broadcast-memory", "ms"): _pair(Target("<=", 1.30), Target("<=", 1.30)),
    ("cycles", "rss_growth_pct"): FLAT,
    ("cycles", "fds_growth_pct"): FLAT,
    ("cycles", "tasks_growth_pct"): FLAT,
    ("fanout-redis", "lost"): {EVERY_APP: Target("==", 0, "value")},
    ("fanout-postgres", "lost"): {EVERY_APP: Target("==", 0, "value")},
}


def target_for(workload: str, metric: str, app: str) -> Target | None:
    by_app = TARGETS.get((workload, metric), {})
    return by_app.get(app) or by_app.get(EVERY_APP)


def verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "MISSED (no figure)"}[met]


def cell_suffix(workload: str, metric: str, app: str, entry: dict | None) -> str:
    """`` [target <= x1.2: met]`` for a cell with a target, else ``""``."""
    target = target_for(workload, metric, app)
    if target is None:
        return ""
    return f" [target {target}: {verdict(target.met(entry))}]"


def summary_lines(report: dict, workloads: list) -> list[str]:
    """A table of every target of the run and whether it was met."""
    rows = []
    for workload in workloads:
        summary = report["workloads"][workload.key]["summary"]
        for metric in workload.metrics:
            for app in workload.apps:
                target = target_for(workload.key, metric.key, app.key)
                if target is None:
                    continue
                entry = summary[app.key].get(metric.key)
                met = target.met(entry)
                spread = (entry or {}).get(target.on)
                shown = "—" if not spread else f"{spread['median']:,.2f}"
                if target.on == "ratio" and spread:
                    shown = "x" + shown
                rows.append(
                    f"| {workload.title} | {app.key} | {metric.label} | {shown} "
                    f"| {target} | {verdict(met)} |"
                )
    if not rows:
        return []
    met_count = sum(row.endswith("| met |") for row in rows)
    return [
        "## Targets",
        "",
        f"{met_count} of {len(rows)} met. Ratio targets are to the floor in the same "
        "repetition; growth targets are percent between the two readings.",
        "",
        "| workload | app | figure | median | target | verdict |",
        "|---|---|---|---:|---|---|",
        *rows,
        "",
    ]
