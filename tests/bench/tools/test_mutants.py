"""`python -m bench.tools.mutants` reads a mutmut run the way mutmut writes it: a mutated copy of each
file with `<function>__mutmut_<n>` beside `<function>__mutmut_orig`, and `<file>.meta` with each
mutant's exit code. Here a small run is written by hand (no mutmut needed) and the score, the
survivors' changed lines and the survivors-file check are compared with what is counted by eye."""

from __future__ import annotations

import json
import textwrap

import pytest

from bench.tools import mutants

MUTATED = textwrap.dedent(
    '''
    def x_half__mutmut_orig(x):
        """Half of x."""
        return x / 2

    def x_half__mutmut_1(x):
        """Half of x."""
        return x * 2

    def x_half__mutmut_2(x):
        """Half of x."""
        return x / 3

    def x_half__mutmut_3(x):
        """Half of x."""
        return x / 2.0

    def x_half__mutmut_4(x):
        """Half of x."""
        return None
    '''
)


@pytest.fixture
def run(tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "one.py").write_text("def half(x):\n    return x / 2\n")
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nonly_mutate = ["pkg/*.py"]\n')
    folder = tmp_path / "mutants"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "one.py").write_text(MUTATED)
    codes = {"pkg.one.x_half__mutmut_1": 1, "pkg.one.x_half__mutmut_2": -24, "pkg.one.x_half__mutmut_3": 0,
             "pkg.one.x_half__mutmut_4": 33}  # fmt: skip
    (folder / "pkg" / "one.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def survivors(path, *entries):
    text = "".join(
        f"[[survivor]]\nfunction = {json.dumps(f)}\nremoved = {json.dumps(r)}\nadded = {json.dumps(a)}\n"
        f"kind = {json.dumps(k)}\nreason = {json.dumps(why)}\n\n"
        for f, r, a, k, why in entries
    )
    path.write_text(text)
    return path


def test_killed_timeouts_survivors_and_the_changed_line(run):
    assert mutants.mutated_files(run / "pyproject.toml") == ["pkg/one.py"]
    found = {m.name.rsplit("_", 1)[-1]: m for m in mutants.read_results(run / "mutants", ["pkg/one.py"])}
    assert {k: m.status for k, m in found.items()} == {"1": "killed", "2": "killed", "3": "survived", "4": "survived"}
    assert found["3"].function == "pkg.one.x_half"
    assert mutants.changed_line(run / "mutants", found["3"]) == ("return x / 2", "return x / 2.0")
    assert mutants.changed_line(run / "mutants", found["4"]) == ("return x / 2", "return None")


def test_the_score_leaves_equivalents_out_and_counts_accepted_as_alive(run, capsys):
    path = survivors(run / "s.toml", ("pkg.one.x_half", "return x / 2", "return x / 2.0", "equivalent", "same float"),
                     ("pkg.one.x_half", "return x / 2", "return None", "accepted", "not reached"))  # fmt: skip
    scores, unlisted, stale = mutants.score(run / "mutants", ["pkg/one.py"], mutants.load_listed(path))
    s = scores["pkg/one.py"]
    assert (s.total, s.killed, s.equivalent, s.accepted, s.unlisted) == (4, 2, 1, 1, 0)
    assert s.score == pytest.approx(2 / 3) and not unlisted and not stale
    assert mutants.main(["--survivors", str(path), "--out", str(run / "score.md")]) == 1  # 66.7 % < 90 %
    out = capsys.readouterr().out
    assert "| `pkg/one.py` | 4 | 2 | 1 | 1 | 0 | 0 | 66.7 % |" in out and "below the 90 % target" in out
    assert "\n| file |" in (run / "score.md").read_text()


def test_an_unlisted_survivor_and_a_stale_entry_fail_the_check(run, capsys):
    path = survivors(run / "s.toml", ("pkg.one.x_half", "return x / 2", "return x / 2.0", "equivalent", "same"),
                     ("pkg.one.x_half", "return x / 2", "return x * 2", "accepted", "killed by now"))  # fmt: skip
    scores, unlisted, stale = mutants.score(run / "mutants", ["pkg/one.py"], mutants.load_listed(path))
    assert [(m.name, r, a) for m, r, a in unlisted] == [("pkg.one.x_half__mutmut_4", "return x / 2", "return None")]
    assert [(e.removed, e.added) for e in stale] == [("return x / 2", "return x * 2")]
    assert mutants.main(["--survivors", str(path), "--out", str(run / "score.md")]) == 1
    out = capsys.readouterr().out
    assert 'removed = "return x / 2"\nadded = "return None"' in out and "match no surviving mutant" in out


def test_every_survivor_killed_or_listed_passes(run, capsys):
    (run / "mutants" / "pkg" / "one.py.meta").write_text(json.dumps({"exit_code_by_key": {
        "pkg.one.x_half__mutmut_1": 1, "pkg.one.x_half__mutmut_2": 1, "pkg.one.x_half__mutmut_3": 0,
        "pkg.one.x_half__mutmut_4": 1}}))  # fmt: skip
    path = survivors(run / "s.toml", ("pkg.one.x_half", "return x / 2", "return x / 2.0", "equivalent", "same"))
    assert mutants.main(["--survivors", str(path), "--out", str(run / "score.md")]) == 0
    assert "100.0 %" in capsys.readouterr().out


def test_a_bad_survivors_file_or_a_missing_run_is_one_clear_error(run, capsys):
    bad = run / "bad.toml"
    bad.write_text('[[survivor]]\nfunction = "f"\nkind = "maybe"\n')
    assert mutants.main(["--survivors", str(bad)]) == 2
    assert "needs function, removed, added, kind (equivalent/accepted) and a reason" in capsys.readouterr().err
    assert mutants.main(["--mutants", str(run / "nowhere")]) == 2
    assert "run `nox -s mutants`" in capsys.readouterr().err
