"""The reports as a reader sees them: opened in headless Chromium, screenshot taken.

Skips, with the reason, where Chromium is not installed (CI installs Debian's `chromium`).
"""

from __future__ import annotations

import os

import pytest

from toolkit.reports.browser import Browser, BrowserMissing, find_chromium, print_pdf
from toolkit.reports.run_report import SECTIONS

needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (apt-get install chromium); CI installs it",
)


@pytest.fixture(scope="module")
def browser():
    with Browser() as b:
        yield b


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "headings"),
    [
        ("report.html", ["Contents"] + [title for _, title in SECTIONS]),
        (
            "model/report.html",
            ["Verdict", "Comparison", "Curves"],
        ),
    ],
    ids=["run", "model"],
)
def test_the_report_opens_cleanly_in_a_browser(browser, demo_dir, tmp_path, page, headings):
    found = browser.open(demo_dir / page)
    shot = browser.screenshot(tmp_path / "report.png")
    assert found["errors"] == []
    assert found["requests"] == []  # self-contained: nothing fetched from anywhere
    assert found["images"], "the report has charts"
    assert all(i["naturalWidth"] > 0 and i["naturalHeight"] > 0 for i in found["images"]), [
        i["alt"] for i in found["images"] if not i["naturalWidth"]
    ]
    assert [h for h in found["headings"] if h in headings] == headings
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000  # a rendered page, not a blank one
    if os.environ.get("TOOLKIT_SCREENSHOTS"):  # keep them to look at
        target = os.path.join(os.environ["TOOLKIT_SCREENSHOTS"], page.replace("/", "_") + ".png")
        browser.screenshot(target, full_page=True)


@needs_chromium
def test_a_broken_image_is_caught(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body><h2>A</h2>"
        '<img alt="bad" src="data:image/png;base64,AAAA"></body></html>'
    )
    found = browser.open(page)
    assert found["headings"] == ["A"]
    assert found["images"][0]["naturalWidth"] == 0


@needs_chromium
@pytest.mark.slow
def test_print_to_pdf(demo_dir, tmp_path):
    pdf = print_pdf(demo_dir / "report.html", tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") >= 3


def test_without_chromium_the_message_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TOOLKIT_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(BrowserMissing, match="apt-get install chromium"):
        print_pdf(tmp_path / "r.html", tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()


@pytest.mark.slow
def test_run_pdf_without_chromium_says_so_and_writes_the_rest(cli, demo_dir, monkeypatch):
    monkeypatch.setenv("TOOLKIT_CHROMIUM", "/no/such/chromium")
    data = demo_dir / "data" / "transactions.parquet"
    customers = demo_dir / "data" / "customers.parquet"
    result = cli(
        "run", data, "--out", demo_dir, "--customers-table", customers, "--seed", "3", "--pdf"
    )
    assert result.exit_code == 0, result.output
    assert "no PDF: Chromium is not installed" in result.stderr
    assert not (demo_dir / "report.pdf").exists()
    assert (demo_dir / "report.html").exists()
