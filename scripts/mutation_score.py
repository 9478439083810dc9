"""
Print the mutation score from mutmut's results in mutants/ (scripts/mutation).

A mutant counts as killed when a test failed (or hung past mutmut's timeout)
while it was active. The survivors listed in docs/mutation_equivalent.txt,
accepted as equivalent (no test can tell them from the original code), are
taken out of the total; the score is killed / (mutants - equivalent).

Usage: mutation_score.py [PATTERN ...], the mutmut name patterns of the run
("django_wsviews.origins.*"); none means every mutant that has a result.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "docs" / "mutation_equivalent.txt"

# mutmut's exit codes (mutmut.stats.status_by_exit_code), in three outcomes.
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout"}
KILLED |= {152: "timeout", 255: "timeout", 37: "type check", -11: "crash", -9: "crash"}
NO_TESTS = {5, 33}
SURVIVED = {0}


def equivalent_mutants() -> dict[str, str]:
    """Return the accepted equivalent mutants, by name, with their reasons."""
    accepted: dict[str, str] = {}
    for line in EQUIVALENT.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            accepted[name] = reason.strip()
    return accepted


def results(patterns: list[str]) -> dict[str, int | None]:
    """Return mutmut's exit code for each mutant the patterns select."""
    codes: dict[str, int | None] = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        for name, code in data.get("exit_code_by_key", {}).items():
            if not patterns or any(fnmatch.fnmatch(name, p) for p in patterns):
                codes[name] = code
    return codes


def outcome_of(code: int) -> str:
    """Name the outcome of a mutant that was not killed."""
    if code in NO_TESTS:
        return "no test reaches it"
    if code in SURVIVED:
        return "survived"
    return f"suspicious: mutmut's exit code {code}"


def module_of(mutant: str) -> str:
    """Return the module of a mutant: the name up to its function's part."""
    return mutant.rpartition(".")[0].removeprefix("django_wsviews.")


def main(patterns: list[str]) -> int:
    """Print the table; return 1 when nothing was measured."""
    codes = results(patterns)
    if not codes:
        print("No mutmut results in mutants/ for", " ".join(patterns) or "any module")
        return 1
    accepted = equivalent_mutants()
    rows: dict[str, Counter[str]] = {}
    survivors: list[str] = []
    for name, code in sorted(codes.items()):
        row = rows.setdefault(module_of(name), Counter())
        row["mutants"] += 1
        if code is None:
            row["not run"] += 1
        elif code in KILLED:
            row["killed"] += 1
        elif code in SURVIVED and name in accepted:
            row["equivalent"] += 1
        else:
            outcome = outcome_of(code)
            row["no tests" if code in NO_TESTS else "survived"] += 1
            survivors.append(f"{name} ({outcome})")

    header = ("module", "mutants", "killed", "survived", "no tests", "equivalent")
    print("{:<22} {:>8} {:>7} {:>9} {:>9} {:>11} {:>7}".format(*header, "score"))
    total: Counter[str] = Counter()
    for module, row in sorted(rows.items()):
        total.update(row)
        print(line(module, row))
    print(line("total", total))
    if total["not run"]:
        print(f"{total['not run']} mutants not run yet (interrupted?).")
    for name in accepted:
        if patterns and not any(fnmatch.fnmatch(name, p) for p in patterns):
            continue
        if name not in codes:
            print(f"Listed as equivalent, but there is no such mutant now: {name}.")
        elif codes[name] is not None and codes[name] not in SURVIVED:
            print(f"Listed as equivalent, but no longer survives: {name}.")
    if survivors:
        print("\nSurvivors (see them with: .venv/bin/mutmut show NAME):")
        print("\n".join(f"  {s}" for s in survivors))
    return 0


def line(module: str, row: Counter[str]) -> str:
    """Return one row: the counts, and killed / (mutants - equivalent)."""
    measured = row["mutants"] - row["equivalent"] - row["not run"]
    score = f"{100 * row['killed'] / measured:.1f}%" if measured else "-"
    return "{:<22} {:>8} {:>7} {:>9} {:>9} {:>11} {:>7}".format(
        module,
        row["mutants"],
        row["killed"],
        row["survived"],
        row["no tests"],
        row["equivalent"],
        score,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
