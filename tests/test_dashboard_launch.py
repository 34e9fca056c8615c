"""`tdmi-dashboard` started from a folder that has no .streamlit/config.toml: it must listen on
127.0.0.1 only and run with usage statistics off (issue 9, item 8). The console script is the one
pip installed from pyproject's [project.scripts]; the server is a real Streamlit process, stopped
at the end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "tdmi-dashboard"
LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as the kernel lists them) with a socket LISTENing on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


@pytest.mark.skipif(not SCRIPT.exists(), reason="tdmi-dashboard not installed: pip install -e .")
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_tdmi_dashboard_from_another_folder_binds_to_loopback_without_stats(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "TDMI_PROJECT_DIR": str(tmp_path)}
    env.pop("TDMI_DASHBOARD_APP", None)
    assert not (tmp_path / ".streamlit").exists()
    server = subprocess.Popen(
        [str(SCRIPT), "--server.port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the dashboard did not answer on 127.0.0.1 within 60 s")
        assert _listening(port) == {LOOPBACK}  # not 0.0.0.0 / ::, which streamlit uses without the flag
        command = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")  # the launcher exec'd streamlit
        assert b"--browser.gatherUsageStats" in command
        assert command[command.index(b"--browser.gatherUsageStats") + 1] == b"false"
        assert command[command.index(b"run") + 1].endswith(b"dashboards/app.py")
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_missing_app_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "TDMI_DASHBOARD_APP": str(tmp_path / "nowhere.py")}
    done = subprocess.run(
        [sys.executable, "-c", "from tdmi.results.launch import main; main([])"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"tdmi-dashboard: no dashboard app at {tmp_path / 'nowhere.py'} (set TDMI_DASHBOARD_APP, or install the "
        "workbench from its checkout with `pip install -e .`)"
    ]
