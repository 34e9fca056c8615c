"""The dashboard in a real browser: `streamlit run` on 127.0.0.1, Debian's headless Chromium, a
screenshot of every page (taken over the DevTools protocol once the page has rendered), each
checked to be non-blank and free of Streamlit's exception box.

- ``TDMI_SCREENSHOT_DIR=DIR`` keeps the screenshots (``DIR/<page>.png``) for a person to look at.
- ``TDMI_README_SCREENSHOT=PATH`` writes the ablation page's top (palette PNG, < 300 KB) to PATH,
  e.g. docs/dashboard.png; otherwise the tree is never touched.
- ``TDMI_BROWSER_PROJECT=DIR`` shows a real project instead of the test fixture (which is then not
  built): how the README's picture of a real pipeline is taken. DIR needs ``mlruns.db`` with the
  pipeline's runs and an ablation experiment (``dvc repro`` and ``dvc repro ablation/dvc.yaml``),
  ``optuna.db`` with a sweep study (``python experiments/sweep.py``) and ``metrics/`` (train.json's
  ``run_id`` names the pipeline's run); the baseline is experiments/conf/ablate/default.yaml's.
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
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (scripts/test_services.sh installs it as root)"
)


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


PAGES = {
    "overview": "",
    "runs": "runs",
    "ablations": "ablations",
    "per_joint": "per_joint",
    "sweep": "sweep",
    "qualitative": "qualitative",
}  # name -> URL path (st.navigation names pages after their files)
WIDTH, HEIGHT = 1400, 2400  # a tall viewport: Streamlit scrolls inside its own container, not the document


async def _screenshots(debugger: str, base: str, out: Path, seconds: float = 90) -> dict[str, tuple[Path, str]]:
    """Open each page over the DevTools protocol, wait until Streamlit has stopped running and the
    page's elements stop changing, then save a PNG. (``--screenshot`` with a virtual time budget
    fires before the app's websocket has delivered anything.)"""
    shots = {}
    async with websockets.connect(debugger, max_size=2**27) as ws:
        ids = iter(range(1, 1_000_000))

        async def call(method: str, **params) -> dict:
            n = next(ids)
            await ws.send(json.dumps({"id": n, "method": method, "params": params}))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == n:
                    return reply.get("result", {})

        await call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        for name, path in PAGES.items():
            await call("Page.navigate", url=f"{base}/{path}")
            await asyncio.sleep(1.0)  # let the old page go
            deadline, last, stable = time.monotonic() + seconds, None, 0
            while stable < 3:  # the same rendered elements for three polls in a row
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{base}/{path} did not finish rendering in {seconds} s")
                state = (await call("Runtime.evaluate", returnByValue=True, expression=READY))["result"].get("value")
                stable = stable + 1 if state and state == last else 0
                last = state
                await asyncio.sleep(0.5)
            shot = await call("Page.captureScreenshot", format="png")
            shots[name] = (out / f"{name}.png", last)  # the PNG, and what had rendered
            shots[name][0].write_bytes(base64.b64decode(shot["data"]))
    return shots


# Rendered: a title, Streamlit's "running" indicator gone; the value is what has rendered (tables,
# charts, images, messages), compared between polls so a page still filling in is waited for.
READY = """(() => {
  if (document.querySelector('[data-testid="stStatusWidget"]') || !document.querySelector('h1')) return null;
  const n = s => document.querySelectorAll(s).length;
  return [n('[data-testid="stDataFrame"]'), n('.js-plotly-plot .main-svg'), n('[data-testid="stImage"] img'),
          n('[data-testid="stAlert"]'), n('[data-testid="stException"]')].join(',');
})()"""


def _blank(png: Path) -> bool:
    """An empty page or Streamlit's grey loading skeleton: almost no dark pixels in the first
    screenful (a short page leaves the rest of the tall viewport white). A real page of mostly
    text (a project's Overview, Sweep) has about 1% dark pixels there, a title alone far fewer."""
    image = np.asarray(Image.open(png).convert("L"), dtype=float)[:1000]
    return (image < 128).mean() < 0.003


def test_every_page_in_chromium(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    port, devtools = _free_port(), _free_port()
    real = os.environ.get("TDMI_BROWSER_PROJECT")
    workbench = None if real else request.getfixturevalue("workbench")  # noqa: F811
    project = Path(real).resolve() if real else workbench["project"]
    env = {
        **os.environ,
        "TDMI_PROJECT_DIR": str(project),
        "TDMI_MLFLOW_URI": f"sqlite:///{project / 'mlruns.db'}",
        "TDMI_OPTUNA_STORAGE": f"sqlite:///{project / 'optuna.db'}",
    }
    if not real:
        env.update(TDMI_MLFLOW_URI=workbench["uri"], TDMI_OPTUNA_STORAGE=workbench["storage"], TDMI_BASELINE="baseline")
    env.pop("TDMI_REFERENCE_CSV", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            APP,
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    browser = None
    out = Path(os.environ.get("TDMI_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/_stcore/health", server, b"ok")
        browser = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={tmp_path / 'profile'}",
                f"--window-size={WIDTH},{HEIGHT}",
                "--remote-debugging-address=127.0.0.1",
                f"--remote-debugging-port={devtools}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        pages = json.loads(_wait_http(f"http://127.0.0.1:{devtools}/json/list", browser))
        debugger = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        shots = asyncio.run(_screenshots(debugger, url, out))
    finally:
        for process in (browser, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=20)
    for name, (shot, rendered) in shots.items():
        image = Image.open(shot)
        assert image.size == (WIDTH, HEIGHT) and not _blank(shot), f"the {name} screenshot is blank"
        assert rendered.endswith(",0"), f"the {name} page shows an exception ({shot})"
    readme = os.environ.get("TDMI_README_SCREENSHOT")
    if readme:
        target = Path(readme)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(shots["ablations"][0]).convert("RGB").crop((0, 0, WIDTH, 1000)).quantize(colors=128).save(
            target, optimize=True
        )
        assert target.stat().st_size < 300_000
