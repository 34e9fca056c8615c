"""The dashboard in a real browser: `streamlit run` on 127.0.0.1, Debian's headless Chromium, a
screenshot of the ablation page (taken over the DevTools protocol once the page has rendered)
checked to be non-blank. TDMI_UPDATE_SCREENSHOT=1 also writes it
(palette PNG, < 300 KB) to docs/dashboard.png for the README; otherwise the tree is never touched.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import websockets
from PIL import Image
from test_dashboard import APP, REPO, workbench  # noqa: F401  (fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/test_services.sh installs it as root)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, process: subprocess.Popen, expect: bytes | None = None, seconds: float = 60) -> bytes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body = response.read()
                if expect is None or body == expect:
                    return body
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {seconds} s")


async def _screenshot(debugger: str, url: str, out: Path, seconds: float = 90) -> None:
    """Open ``url`` over the DevTools protocol, wait until Streamlit has rendered the page's tables
    and Plotly charts and stopped running, then save a PNG. (``--screenshot`` with a virtual time
    budget fires before the app's websocket has delivered anything.)"""
    async with websockets.connect(debugger, max_size=2**26) as ws:
        ids = iter(range(1, 1_000_000))

        async def call(method: str, **params) -> dict:
            n = next(ids)
            await ws.send(json.dumps({"id": n, "method": method, "params": params}))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == n:
                    return reply.get("result", {})

        await call("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1, mobile=False)
        await call("Page.navigate", url=url)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            state = await call("Runtime.evaluate", returnByValue=True, expression=READY)
            if state["result"].get("value"):
                break
            await asyncio.sleep(0.5)
        else:
            raise TimeoutError(f"{url} did not finish rendering in {seconds} s")
        await asyncio.sleep(1.0)  # let Plotly finish its transitions
        shot = await call("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))


# Rendered: tables and charts on the page, and Streamlit's "running" indicator gone.
READY = """(() => document.querySelectorAll('[data-testid="stDataFrame"]').length >= 2
  && document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2
  && !document.querySelector('[data-testid="stStatusWidget"]'))()"""


def _blank(png: Path) -> bool:
    """An empty page or Streamlit's grey loading skeleton: almost no dark pixels, little variance."""
    image = np.asarray(Image.open(png).convert("L"), dtype=float)
    return image.std() < 20 or (image < 128).mean() < 0.01


def test_ablation_page_screenshot(workbench: dict, tmp_path: Path) -> None:  # noqa: F811
    port, devtools = _free_port(), _free_port()
    env = {**os.environ, "TDMI_PROJECT_DIR": str(workbench["project"]), "TDMI_MLFLOW_URI": workbench["uri"],
           "TDMI_OPTUNA_STORAGE": workbench["storage"]}
    env.pop("TDMI_REFERENCE_CSV", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", APP, "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    browser = None
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/_stcore/health", server, b"ok")
        browser = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--window-size=1400,1000", "--remote-debugging-address=127.0.0.1", f"--remote-debugging-port={devtools}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        pages = json.loads(_wait_http(f"http://127.0.0.1:{devtools}/json/list", browser))
        debugger = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        shot = tmp_path / "ablations.png"
        asyncio.run(_screenshot(debugger, f"{url}/ablations", shot))
    finally:
        for process in (browser, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=20)
    image = Image.open(shot)
    assert image.size == (1400, 1000) and not _blank(shot), "the screenshot is blank"
    if os.environ.get("TDMI_UPDATE_SCREENSHOT") == "1":
        target = REPO / "docs" / "dashboard.png"
        target.parent.mkdir(exist_ok=True)
        image.convert("RGB").quantize(colors=128).save(target, optimize=True)
        assert target.stat().st_size < 300_000
