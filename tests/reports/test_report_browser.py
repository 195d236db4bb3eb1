"""The report page as a person sees it: opened in headless Chromium (Debian's package), driven by Playwright."""

from pathlib import Path

import pytest

from matnet.config import TrainConfig
from matnet.reports import write_report
from matnet.run import train_run

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def report(tmp_path_factory, mnist):
    out = tmp_path_factory.mktemp("runs") / "browser"
    summary = train_run(TrainConfig(subset=2000, val_size=1000, epochs=2, out=str(out)), progress=False)
    return write_report(out, progress=False).path, summary


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_report_renders_in_chromium(browser, report, viewport):
    path, summary = report
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    images = page.evaluate("Array.from(document.images).map(i => ({name: i.dataset.figure, done: i.complete, "
                           "w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width}))")
    assert len(images) == 8
    for image in images:
        assert image["done"] and image["w"] > 0 and image["h"] > 0, image
        assert 0 < image["shown"] <= viewport[0], image                      # fits the screen
    assert page.inner_text("#test-accuracy") == f"{100 * summary['test_accuracy']:.2f}%"
    assert page.locator("#per-class tbody tr").count() == 10
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0]   # no sideways scrolling
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report-{viewport[0]}x{viewport[1]}.png"), full_page=True)
    page.close()
