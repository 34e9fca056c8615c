"""The command line without an activated environment (issue 12): DVC stages run the project's
interpreter through scripts/python whatever PATH's `python` is, `dvc exp run --temp` leaves the
workspace as it was after a failure and after a success, and `make dashboard` binds to 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
LAUNCHER = REPO / "scripts" / "python"
BROKEN = '#!/bin/sh\necho "$0: no hydra here" >&2\nexit 1\n'


@pytest.fixture()
def broken_path(tmp_path: Path) -> str:
    """A PATH whose `python` and `python3` are interpreters without the dependencies (they exit 1)
    and which lacks .venv/bin, as in a shell that never activated the environment."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for name in ("python", "python3"):
        (fake / name).write_text(BROKEN)
        (fake / name).chmod(0o755)
    return f"{fake}:/usr/bin:/bin"


def _env(path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return {**env, "PATH": path, "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1"}


def _interpreter(launcher: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [launcher, "-c", "import sys; print(sys.executable)"], env=env, capture_output=True, text=True, timeout=60
    )


def test_every_stage_runs_the_launcher() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    commands = {name: stage.get("do", stage)["cmd"] for name, stage in stages.items()}
    assert commands and all(cmd.startswith("scripts/python ") for cmd in commands.values()), commands


@pytest.mark.skipif(not VENV_PYTHON.exists(), reason="no .venv in this checkout (make setup)")
def test_launcher_skips_interpreters_without_the_dependencies(broken_path: str, tmp_path: Path) -> None:
    env = _env(broken_path)
    assert subprocess.run(["python", "-c", "1"], env=env, capture_output=True).returncode == 1
    other = tmp_path / "other-venv"  # an activated environment that lacks hydra
    (other / "bin").mkdir(parents=True)
    shutil.copy(tmp_path / "fakebin" / "python", other / "bin" / "python")
    out = _interpreter(LAUNCHER, {**env, "VIRTUAL_ENV": str(other)})
    assert out.returncode == 0 and out.stdout.strip() == str(VENV_PYTHON), out.stderr


def test_launcher_without_any_usable_interpreter_says_so_in_one_line(broken_path: str, tmp_path: Path) -> None:
    alone = tmp_path / "checkout" / "scripts" / "python"  # a checkout without .venv
    alone.parent.mkdir(parents=True)
    shutil.copy2(LAUNCHER, alone)
    out = _interpreter(alone, _env(broken_path))
    assert out.returncode == 127 and out.stdout == ""
    assert out.stderr.startswith("scripts/python: no interpreter with the project's dependencies")
    assert out.stderr.count("\n") == 1 and f"{tmp_path}/fakebin/python3" in out.stderr


@pytest.mark.skipif(not VENV_PYTHON.exists(), reason="no .venv in this checkout (make setup)")
def test_launcher_keeps_mlflow_runs_in_the_checkout_dvc_started_in(tmp_path: Path) -> None:
    """`dvc exp run --temp` runs stages in a copy it deletes; DVC_ROOT names the checkout."""
    show = [LAUNCHER, "-c", "import os; print(os.environ.get('MLFLOW_TRACKING_URI'))"]
    env = {**_env(os.environ["PATH"]), "DVC_ROOT": str(tmp_path)}
    env.pop("MLFLOW_TRACKING_URI", None)
    seen = [
        subprocess.run(show, env=e, capture_output=True, text=True, timeout=60).stdout.strip()
        for e in (env, {**env, "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
    ]
    assert seen == [f"sqlite:///{tmp_path}/mlruns.db", "http://127.0.0.1:5000"]


def _run(repo: Path, env: dict[str, str], *cmd: str, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert (out.returncode == 0) == ok, f"{' '.join(cmd)}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def _scratch_checkout(work: Path) -> Path:
    """The repo's files as git sees them, its .venv linked in, params composed for `smoke`."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file() and not name.startswith(("metrics/", "plots/", "reports/", "dvc.lock")):
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, work / name)
    (work / ".venv").symlink_to(REPO / ".venv")
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@t")
    env = _env(f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin")
    _run(work, env, "git", "init", "-q")
    (work / ".git" / "info" / "exclude").write_text(".venv\n")  # a link: `.venv/` does not match it
    _run(work, env, str(VENV_PYTHON), "experiments/compose_params.py", "experiment=smoke")
    _run(work, env, "git", "add", "-A")
    _run(work, env, *git, "commit", "-qm", "smoke")
    return work


@pytest.mark.slow
@pytest.mark.skipif(not VENV_PYTHON.exists(), reason="no .venv in this checkout (make setup)")
def test_dvc_stages_and_temp_experiments_work_without_the_environment(broken_path: str, tmp_path: Path) -> None:
    """`.venv/bin/dvc` from a shell whose `python` lacks hydra: the stages still run; a failed
    and a successful `dvc exp run --temp` leave `git status` clean; `dvc exp branch` keeps one."""
    repo = _scratch_checkout(tmp_path / "repo")
    env, dvc = _env(broken_path), str(REPO / ".venv" / "bin" / "dvc")
    first = _run(repo, env, dvc, "repro", "prepare")
    assert "Running stage 'prepare'" in first.stdout and (repo / "metrics" / "data.json").is_file()
    _run(repo, env, "git", "add", "-A")
    _run(repo, env, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "prepared")
    before = (repo / "params.yaml").read_text(), (repo / "metrics" / "data.json").read_text()

    exp = (dvc, "exp", "run", "--temp", "prepare", "-S", "experiment=smoke")  # -S recomposes all
    failed = _run(repo, env, *exp, "-S", "data.synth.videos=abc", ok=False)
    assert "Running stage" in failed.stdout  # a stage failed, not the composition
    assert _run(repo, env, "git", "status", "--porcelain").stdout == ""
    _run(repo, env, *exp, "-S", "data.synth.seed=3", "-n", "seed3")
    assert _run(repo, env, "git", "status", "--porcelain").stdout == ""
    assert ((repo / "params.yaml").read_text(), (repo / "metrics" / "data.json").read_text()) == before
    _run(repo, env, dvc, "exp", "branch", "seed3", "exp-seed3")  # kept: a git branch of its own
    shown = [_run(repo, env, "git", "show", f"exp-seed3:{f}").stdout for f in ("params.yaml", "metrics/data.json")]
    assert "seed: 3" in shown[0] and shown[1] != before[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> list[str]:
    """Local addresses of the TCP sockets listening on ``port``."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("ss") or not VENV_PYTHON.exists(), reason="needs ss and .venv")
def test_make_dashboard_listens_on_localhost_only(tmp_path: Path) -> None:
    """Started from another folder (make -C), as a user would; `-o setup`: no reinstall here.
    (`make mlflow-ui` passes --host 127.0.0.1 the same way; its server takes a minute to start on
    two busy cores, too long for the suite.)"""
    port = _free_port()
    args = f"ARGS=--server.port {port} --server.headless true"
    cmd = ["make", "-s", "-C", str(REPO), "-o", "setup", "dashboard", args]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=_env(os.environ["PATH"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _listening(port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _listening(port) == [f"127.0.0.1:{port}"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # make and the server it started: their own session
        proc.wait(timeout=30)
