"""The report in a real browser: headless Chromium loads index.html, every image loads and the
console shows no error. Skipped, with a message, where Chromium is missing; in CI (CI=true),
where .ci/run installs it, a missing Chromium fails instead."""

import os

import pytest
from browser import find_chromium, render

from reports.report import build

CHROMIUM = find_chromium()


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        message = "no chromium binary (apt-get install chromium, or set BLENDBENCH_CHROMIUM)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}: CI must run the browser test (.ci/run installs Chromium)")
        pytest.skip(message)
    return CHROMIUM


def test_report_renders_in_chromium_with_every_image_and_no_console_error(chromium, sweep_2d, tmp_path):
    root, spec = sweep_2d
    index = build(root / spec.name, tmp_path / spec.name)
    page = render(index, chromium)
    assert len(page.images) >= 10
    assert [src for src, ok in page.images if not ok] == []
    assert page.errors == []


def test_the_check_sees_a_broken_image_and_a_console_error(chromium, tmp_path):
    page = tmp_path / "broken.html"
    (tmp_path / "fine.png").write_bytes(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"))  # fmt: skip
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<img src="fine.png"><img src="missing.png">'
                    '<script>console.error("boom")</script></body></html>')  # fmt: skip
    rendered = render(page, chromium)
    assert [ok for _, ok in rendered.images] == [True, False]
    assert any("boom" in e for e in rendered.errors)
