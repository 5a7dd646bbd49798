"""A real browser against a ``make lab``-style JupyterLab: open notebook 01, run it all, see the graph,
click a plugin in it and see its details.

Headless Debian chromium driven by pip's playwright (never ``playwright install``). Skipped
when chromium or playwright is missing. A screenshot lands in ``test-artifacts/``.
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd.lab.procs import PidDir, stop_pid

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOK = "01-plugins-and-config.ipynb"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture
def lab_url(short_tmp: Path) -> Iterator[str]:
    """``python -m pyctrd.lab`` on a temp dir and a free port, serving a copy of notebooks/."""
    books = short_tmp / "notebooks"
    shutil.copytree(ROOT / "notebooks", books, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    proc = subprocess.Popen([sys.executable, "-m", "pyctrd.lab", "--dir", str(short_tmp / "lab"),
                             "--notebooks", str(books)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    url = None
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if m := re.search(r"http://127\.0\.0\.1:\d+/lab\?token=\w+", line):
                url = m.group(0)
            if line.startswith(("Ctrl-C stops the lab.", "lab: ")):
                break
        assert url, "".join(lines)
        yield url
    finally:
        records = PidDir(short_tmp / "lab" / "pids").records()
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        for rec in records.values():  # only if the lab failed to stop them itself
            stop_pid(rec, sig=signal.SIGKILL, timeout=5)
        assert proc.returncode == 0, "".join(lines) + out
        assert not any(r.alive() for r in records.values())


@pytest.mark.timeout(420)
def test_notebook_01_runs_in_chromium_and_draws_the_plugin_graph(lab_url: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    base, token = lab_url.split("/lab?token=")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=90_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
            status = page.locator(".jp-Notebook-ExecutionIndicator, #jp-main-statusbar")
            status.first.wait_for(timeout=30_000)
            page.wait_for_function(  # the kernel is up before we run anything
                "() => document.querySelector('#jp-main-statusbar')?.textContent.includes('Idle')",
                timeout=90_000)
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            last_prompt = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").last
            sync_api.expect(last_prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=240_000)
            graph = page.locator("g[id='plugin-io.containerd.snapshotter.v1.overlayfs']").first
            graph.scroll_into_view_if_needed(timeout=30_000)
            for name in ("overlayfs", "sqlite", "version", "devmapper", "content"):
                sync_api.expect(page.locator(".jp-OutputArea svg text", has_text=re.compile(f"^{name}$")).first
                                ).to_be_visible(timeout=30_000)
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
            assert len(tracebacks) <= 2, tracebacks  # only the two cells that fail on purpose
            # a click on a node picks that plugin: the details pane follows (the kernel answers it)
            details = page.locator(".widget-html-content", has_text=re.compile(r"config \[plugins\."))
            sync_api.expect(details.first).not_to_contain_text("upperdir_label")
            page.locator("g[id='plugin-io.containerd.snapshotter.v1.overlayfs']").first.click(timeout=30_000)
            sync_api.expect(details.first).to_contain_text("upperdir_label = False", timeout=30_000)
            sync_api.expect(details.first).to_contain_text("(effective)")
            page.screenshot(path=str(ARTIFACTS / "lab-01-plugins-and-config.png"))
            page.locator(".jp-OutputArea-output", has=page.locator("g[id^='plugin-']")).first.screenshot(
                path=str(ARTIFACTS / "lab-01-plugin-graph.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "lab-01-plugins-and-config-FAILED.png"))
            raise
        finally:
            browser.close()
