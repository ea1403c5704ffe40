"""The mutation score of the science core, from a `mutmut run` (`nox -s mutants`, docs/mutation.md).

mutmut (3.x) copies the packages into `mutants/`, writes every mutant of a function beside it as
`<function>__mutmut_<n>` and records each mutant's exit code in `mutants/<file>.meta`. This module
reads those files, never mutmut itself, and for each mutated file counts

    killed      a selected test failed, or the mutant ran out of time (a hang is caught too);
    survived    every test that reached the function passed; or no selected test reached it;
    equivalent  a survivor listed in docs/mutation-survivors.toml as equivalent: it computes what
                the original computes, so no test can kill it (left out of the score).

score = killed / (total - equivalent), a mutant not checked (a run stopped early) counting as alive;
the target is at least 90 % per file. Every survivor must
be listed in the survivors file, as `equivalent` or `accepted`, with its reason: a survivor that is
not listed fails the check, as does a listed one that no longer survives (the list stays true).

A survivor is named by its function and the line it changes (the original line and the mutated
one, stripped), not by mutmut's number, which shifts when the function is edited.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import fnmatch
import json
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TARGET = 0.90
SURVIVORS_FILE = Path("docs/mutation-survivors.toml")
KILLED = {1, 3, 36, 24, -24, 152, 255, -9, -11}
"""mutmut's exit codes for a failed test (1, 3), a timeout (36, SIGXCPU 24/-24/152, 255) or a crash."""
SURVIVED = {0, 5, 33}
"""All tests passed (0), or none reached the mutant (5, 33)."""
KINDS = ("equivalent", "accepted")


@dataclass(frozen=True)
class Mutant:
    name: str
    """mutmut's name: `<module>.<mangled function>__mutmut_<n>`."""
    file: str
    function: str
    """`<module>.<mangled function>`, e.g. `bench.solvers.x_rk45` or `methods.ddpm.xǁDDPMǁloss`."""
    exit_code: int | None

    @property
    def status(self) -> str:
        if self.exit_code in KILLED:
            return "killed"
        if self.exit_code in SURVIVED:
            return "survived"
        return "not checked" if self.exit_code is None else f"suspicious ({self.exit_code})"


@dataclass(frozen=True)
class Listed:
    function: str
    removed: str
    added: str
    kind: str
    reason: str


def mutated_files(pyproject: Path = Path("pyproject.toml")) -> list[str]:
    """The files `[tool.mutmut] only_mutate` selects (minus `do_not_mutate`), in their order."""
    config = tomllib.loads(pyproject.read_text())["tool"]["mutmut"]
    root = pyproject.parent
    files: list[str] = []
    for pattern in config["only_mutate"]:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root).as_posix()
            if rel not in files and not any(fnmatch.fnmatch(rel, p) for p in config.get("do_not_mutate", [])):
                files.append(rel)
    return files


def read_results(mutants_dir: Path, files: Iterable[str]) -> list[Mutant]:
    """Every mutant of `files` with its exit code, from `mutants/<file>.meta`."""
    out = []
    for file in files:
        meta = mutants_dir / f"{file}.meta"
        if not meta.exists():
            raise FileNotFoundError(f"{meta} is missing: run `nox -s mutants` (mutmut run) first")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            out.append(Mutant(name, file, name.rsplit("__mutmut_", 1)[0], code))
    return out


def changed_line(mutants_dir: Path, mutant: Mutant, _cache: dict | None = None) -> tuple[str, str]:
    """(original, mutated): the first line the mutant changes, each stripped (all changed lines
    joined by ' / ' when it changes several)."""
    cache = {} if _cache is None else _cache
    if mutant.file not in cache:
        source = (mutants_dir / mutant.file).read_text()
        defs = {}
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
                defs[node.name] = ast.get_source_segment(source, node)
        cache[mutant.file] = defs
    defs = cache[mutant.file]
    short = mutant.function.rsplit(".", 1)[-1]
    orig = defs[f"{short}__mutmut_orig"].splitlines()
    mutated = defs[mutant.name.rsplit(".", 1)[-1]].splitlines()
    diff = list(difflib.ndiff(orig[1:], mutated[1:]))  # the def line differs by name only
    removed = [line[2:].strip() for line in diff if line.startswith("- ")]
    added = [line[2:].strip() for line in diff if line.startswith("+ ")]
    return " / ".join(removed), " / ".join(added)


def load_listed(path: Path) -> list[Listed]:
    """The survivors file: `[[survivor]]` tables with function, removed, added, kind, reason."""
    if not path.exists():
        return []
    entries = tomllib.loads(path.read_text()).get("survivor", [])
    listed = []
    for i, e in enumerate(entries):
        missing = [k for k in ("function", "removed", "added", "kind", "reason") if k not in e]
        if missing or e["kind"] not in KINDS or not e["reason"].strip():
            raise ValueError(f"{path}: survivor {i + 1} needs function, removed, added, kind ({'/'.join(KINDS)}) "
                             f"and a reason; got {sorted(e)}")  # fmt: skip
        listed.append(Listed(e["function"], e["removed"], e["added"], e["kind"], e["reason"]))
    return listed


@dataclass
class FileScore:
    file: str
    total: int = 0
    killed: int = 0
    equivalent: int = 0
    accepted: int = 0
    unlisted: int = 0
    not_checked: int = 0

    @property
    def score(self) -> float:
        counted = self.total - self.equivalent
        return self.killed / counted if counted else 1.0


def score(mutants_dir: Path, files: list[str], listed: list[Listed]):
    """Per-file scores, the survivors nobody listed (with their changed line) and the listed
    entries that match no survivor."""
    by_key = {(e.function, e.removed, e.added): e for e in listed}
    used: set[tuple[str, str, str]] = set()
    scores = {f: FileScore(f) for f in files}
    unlisted: list[tuple[Mutant, str, str]] = []
    cache: dict = {}
    for m in read_results(mutants_dir, files):
        s = scores[m.file]
        s.total += 1
        if m.status == "killed":
            s.killed += 1
            continue
        if m.status == "not checked":
            s.not_checked += 1
            continue
        removed, added = changed_line(mutants_dir, m, cache)
        entry = by_key.get((m.function, removed, added))
        if entry is None:
            s.unlisted += 1
            unlisted.append((m, removed, added))
            continue
        used.add((entry.function, entry.removed, entry.added))
        if entry.kind == "equivalent":
            s.equivalent += 1
        else:
            s.accepted += 1
    stale = [e for e in listed if (e.function, e.removed, e.added) not in used]
    return scores, unlisted, stale


def table(scores: dict[str, FileScore]) -> str:
    lines = [
        "| file | mutants | killed | equivalent | accepted | unlisted | not checked | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scores.values():
        lines.append(f"| `{s.file}` | {s.total} | {s.killed} | {s.equivalent} | {s.accepted} | {s.unlisted} | "
                     f"{s.not_checked} | {100 * s.score:.1f} % |")  # fmt: skip
    return "\n".join(lines)


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.tools.mutants", description=__doc__.split("\n\n")[0])
    p.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's folder (default mutants/)")
    p.add_argument("--survivors", type=Path, default=SURVIVORS_FILE)
    p.add_argument("--out", type=Path, default=Path("results/mutants/score.md"), help="the table, as Markdown")
    args = p.parse_args(argv)
    files = mutated_files()
    try:
        listed = load_listed(args.survivors)
        scores, unlisted, stale = score(args.mutants, files, listed)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = table(scores)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from bench.store import provenance  # torch: only when a score is written

    made = (f"Mutation score of `{provenance.git_revision()}` on {provenance.device_name()}, `nox -s mutants` "
            "(bench/tools/mutants.py).")  # fmt: skip
    args.out.write_text(f"{made}\n\n{text}\n")
    ok = True
    if unlisted:
        ok = False
        print(f"\n{len(unlisted)} surviving mutants are not in {args.survivors}; kill them with a test, or list "
              "each (kind = equivalent or accepted) with its reason:")  # fmt: skip
        for m, removed, added in unlisted:
            print(f"\n# {m.name}\n[[survivor]]\nfunction = {_toml_str(m.function)}\nremoved = {_toml_str(removed)}\n"
                  f"added = {_toml_str(added)}\nkind = \"\"\nreason = \"\"")  # fmt: skip
    if stale:
        ok = False
        print(f"\n{len(stale)} entries of {args.survivors} match no surviving mutant (killed now, or the code moved):")
        for e in stale:
            print(f"  {e.function}: {e.removed!r} -> {e.added!r}")
    low = [s for s in scores.values() if s.score < TARGET]
    if low:
        ok = False
        print(f"\nbelow the {100 * TARGET:.0f} % target: " + ", ".join(f"{s.file} {100 * s.score:.1f} %" for s in low))
    unchecked = sum(s.not_checked for s in scores.values())
    if unchecked:
        ok = False
        print(f"\n{unchecked} mutants were not checked: the run did not finish")
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
