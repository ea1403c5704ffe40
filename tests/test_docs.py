"""The README and docs/ stay honest: every command in their code blocks is one the CLI (or nox)
accepts, every relative link and image resolves (anchors included), and the README stays short."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from bench.cli import build_parser
from bench.run import SpecError, parse_spec

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200
SHELL_BLOCKS = ("bash", "sh", "shell", "console")
OTHER_PROGRAMS = {"pip", "git", "cd", "bash"}
"""Programs a code block may run besides the harness's own: `python -m bench`, `blendbench`, `nox`."""
BENCH_SESSIONS = {"bench": "sweep", "report": "report", "perf": "perf", "regress": "regress",
                  "baseline": "baseline", "docs": "docs"}  # fmt: skip
"""nox sessions that hand their `-- args` to `python -m bench <command>` (see noxfile.py)."""
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def pages(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def code_blocks(text: str) -> list[tuple[str, int, str]]:
    """(language, first line number, body) of each fenced code block."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = re.match(r"^\s*```(\w*)", lines[i])
        if fence:
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append((fence.group(1), start + 1, "\n".join(body)))
        i += 1
    return blocks


def commands(body: str) -> list[list[str]]:
    """The commands of a shell block: continuation lines joined, comments dropped, `a && b` split,
    leading VAR=value assignments dropped."""
    joined = re.sub(r"\\\n", " ", body)
    found = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", "||", ";"):
                while command and re.match(r"^[A-Z_]+=", command[0]):
                    command.pop(0)
                if command:
                    found.append(command)
                command = []
            else:
                command.append(word)
    return found


def nox_sessions(root: Path = ROOT) -> set[str]:
    tree = ast.parse((root / "noxfile.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any("nox.session" in ast.unparse(d) for d in node.decorator_list)
    }


def check_command(words: list[str], sessions: set[str]) -> str | None:
    """None when the command is valid, else why not."""
    parser = build_parser()

    def parses(argv: list[str]) -> str | None:
        try:
            parser.parse_args(argv)
        except SystemExit as exit_:
            return None if exit_.code == 0 else f"`python -m bench {shlex.join(argv)}` is refused by the CLI's parser"
        return None

    if words[:3] == ["python", "-m", "bench"]:
        return parses(words[3:])
    if words[0] == "blendbench":
        return parses(words[1:])
    if words[0] == "nox":
        argv = words[1:]
        posargs = argv[argv.index("--") + 1 :] if "--" in argv else []
        argv = argv[: argv.index("--")] if "--" in argv else argv
        named = [argv[i + 1] for i, w in enumerate(argv[:-1]) if w == "-s"]
        unknown = [s for s in named if s not in sessions]
        if unknown:
            return f"nox has no session {', '.join(unknown)} (sessions: {', '.join(sorted(sessions))})"
        if len(named) == 1 and named[0] in BENCH_SESSIONS and posargs:
            return parses([BENCH_SESSIONS[named[0]], *posargs])
        return None
    if words[0] in OTHER_PROGRAMS:
        return None
    return f"`{words[0]}` is not a command the docs may show (harness commands, nox, or {sorted(OTHER_PROGRAMS)})"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)}


def broken_links(path: Path) -> list[str]:
    """The relative links and images of a page that lead nowhere."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{path.name}: {target} (no file {dest})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{path.name}: {target} (no heading #{anchor} in {dest.name})")
    return broken


def bad_commands(path: Path, sessions: set[str]) -> list[str]:
    found = []
    for language, line, body in code_blocks(path.read_text()):
        if language not in SHELL_BLOCKS:
            continue
        for words in commands(body):
            if (why := check_command(words, sessions)) is not None:
                found.append(f"{path.name}:{line}: {why}")
    return found


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_command_in_a_code_block_is_accepted(page):
    assert bad_commands(page, nox_sessions()) == []


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_image_resolves(page):
    assert broken_links(page) == []


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_sweep_file_shown_is_a_valid_sweep(page):
    """A TOML block that names a sweep (`name = ...`) parses and validates as one."""
    for language, line, body in code_blocks(page.read_text()):
        if language == "toml" and body.lstrip().startswith("name"):
            parse_spec(body, source=f"{page.name}:{line}")


def test_a_broken_sweep_file_is_caught():
    with pytest.raises(SpecError, match="solverz"):
        parse_spec('name = "x"\n[axes]\nmethods = ["iadb"]\ndatasets = ["gauss-moons"]\nsolverz = ["euler"]\n')


def test_the_readme_reads_in_five_minutes():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_every_docs_page_is_reachable_from_the_readme_or_the_docs_index():
    linked = set()
    for page in (ROOT / "README.md", ROOT / "docs" / "index.md"):
        for target in LINK.findall(page.read_text()):
            linked.add((page.parent / target.partition("#")[0]).resolve())
    orphans = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in linked]
    assert orphans == [], f"docs pages that neither README.md nor docs/index.md links to: {orphans}"


def test_the_checks_fail_on_a_broken_link_a_bad_anchor_and_a_bad_command(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# A heading\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[fine](docs/there.md#a-heading) [gone](docs/nowhere.md) ![lost](docs/images/none.png) "
        "[anchor](docs/there.md#no-such-heading) [web](https://example.org/x)\n\n"
        "```bash\npython -m bench sweep --profile quick\npython -m bench sweep --no-such-flag\n"
        "python -m bench swep\nnox -s bench -- --profile smoke\nnox -s nosuchsession\n"
        "nox -s bench -- --bogus\nrm -rf results\n```\n"
    )
    links = broken_links(page)
    assert [entry.split(" ")[1] for entry in links] == [
        "docs/nowhere.md", "docs/images/none.png", "docs/there.md#no-such-heading"]  # fmt: skip
    bad = bad_commands(page, {"bench", "tests"})
    assert len(bad) == 5, bad
    assert "--no-such-flag" in bad[0] and "swep" in bad[1] and "nosuchsession" in bad[2]
    assert "--bogus" in bad[3] and "`rm`" in bad[4]
