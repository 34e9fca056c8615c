"""Dashboard page times on a big workbench: 500 MLflow runs and a 1,000-trial Optuna study.

    python benchmarks/dashboard_speed.py [--runs 500] [--trials 1000]

Builds the stores in a temporary folder (real SQLite MLflow and Optuna stores, runs shaped like
training runs: ~40 params, per-joint metrics, tags; a quarter of them ablation runs over 3 seeds),
then times each page under streamlit's AppTest: the uncached library reads first (the baseline),
then each page's first render with every cache cleared (cold: what a user waits for on opening a
page) and a re-render (warm, the TTL cache a user hits when clicking around), each as wall and CPU
seconds (the app is imported once before, as a server does at start). The target: every page's
first render under 2 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import mlflow
import optuna
import streamlit as st
from mlflow.entities import Metric, Param, RunTag
from omegaconf import OmegaConf
from streamlit.testing.v1 import AppTest

from tdmi.eval.results import COLUMNS
from tdmi.models.presets import ABLATION_ORDER
from tdmi.reference import load_reference
from tdmi.results import ablation, studies
from tdmi.results.run_table import load_runs

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboards" / "app.py")
PAGES = ("overview", "runs", "ablations", "per_joint", "sweep", "qualitative")
EPOCHS = 6


def build_runs(uri: str, n: int, rng: random.Random) -> None:
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("bench")
    now = int(time.time() * 1000)
    for i in range(n):
        preset = ABLATION_ORDER[i % len(ABLATION_ORDER)]
        tags = {
            "preset": preset,
            "seed": str(i // len(ABLATION_ORDER) % 3),
            "ablation": str(i % 4 == 0).lower(),
            "data_fingerprint": "f" * 16,
            "git_commit": "0" * 40,
            "device": "cpu",
        }
        run = client.create_run(experiment, run_name=f"run-{i}", tags=tags)
        params = [Param(f"group{g}.key{k}", str(rng.random())) for g in range(4) for k in range(9)]
        params += [Param("data.name", "synth"), Param("seed", tags["seed"]), Param("preset", preset)]
        metrics = [Metric(f"{p}/AP/{c}", rng.uniform(30, 80), now, 1) for c in COLUMNS for p in ("val", "best")]
        metrics += [Metric("best/mAP", rng.uniform(30, 80), now, 0)]
        metrics += [
            Metric(k, rng.uniform(0, 80), now, e)
            for e in range(1, EPOCHS + 1)
            for k in ("val/mAP", "train/total", "train/heatmap", "train/mi_task")
        ]
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=[RunTag("mlflow.user", "bench")])
        client.set_terminated(run.info.run_id)


def build_study(storage: str, n: int, rng: random.Random) -> None:
    distributions = {
        f"model.{t}": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
        for t in ("mi_disentangle", "mi_task", "mi_recon")
    }
    distributions["model.tde_stages"] = optuna.distributions.IntDistribution(1, 4)
    study = optuna.create_study(study_name="bench", storage=storage, direction="maximize")
    states = [optuna.trial.TrialState.COMPLETE] * 8 + [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL]
    trials = []
    for _ in range(n):
        params = {
            k: (rng.randint(1, 4) if k == "model.tde_stages" else 10 ** rng.uniform(-4, -1)) for k in distributions
        }
        state = rng.choice(states)
        done = state == optuna.trial.TrialState.COMPLETE
        epochs = EPOCHS if done else rng.randint(1, EPOCHS)
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions=distributions,
                state=state,
                value=rng.uniform(30, 80) if done else None,
                intermediate_values={e: rng.uniform(20, 80) for e in range(1, epochs + 1)},
            )
        )
    study.add_trials(trials)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed_cpu(fn) -> tuple[float, float]:
    """(wall, CPU) seconds: on a shared machine the CPU time of this process is the figure that
    does not depend on what else runs (the page's work is single-threaded, in this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="build the stores in this folder once and reuse them afterwards")
    parser.add_argument("--pages", nargs="*", default=PAGES, choices=PAGES)
    args = parser.parse_args()
    rng = random.Random(0)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        project = args.keep.resolve() if args.keep else Path(tmp)
        project.mkdir(parents=True, exist_ok=True)
        uri, storage = f"sqlite:///{project / 'mlruns.db'}", f"sqlite:///{project / 'optuna.db'}"
        if not (project / "optuna.db").exists():
            print(f"building {args.runs} runs: {timed(lambda: build_runs(uri, args.runs, rng)):.1f} s")
            print(f"building {args.trials} trials: {timed(lambda: build_study(storage, args.trials, rng)):.1f} s")
        os.environ.update(
            TDMI_PROJECT_DIR=str(project),
            TDMI_MLFLOW_URI=uri,
            TDMI_OPTUNA_STORAGE=storage,
            TDMI_BASELINE=ABLATION_ORDER[0],
        )
        reference, baseline = load_reference(), ABLATION_ORDER[0]
        confidence = OmegaConf.load(ROOT / "experiments" / "conf" / "ablate" / "default.yaml").confidence
        verdicts = timed(lambda: ablation.verdict_table(load_runs(uri).table, reference, baseline, confidence))
        print(
            f"baseline, uncached reads: load_runs {timed(lambda: load_runs(uri)):.2f} s, "
            f"ablation verdicts {verdicts:.2f} s, "
            f"study trials through Optuna's API {timed(lambda: studies.load_study(storage, 'bench').trials):.2f} s, "
            f"as the page reads them (SQL snapshot) {timed(lambda: studies.read_study(storage, 'bench')):.2f} s"
        )
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()  # imports (streamlit, plotly, mlflow, optuna) happen once per server, not per page
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'page':<12} {'first wall':>10} {'first cpu':>10} {'again wall':>10} {'again cpu':>10}   (s)")
        for page in args.pages:

            def cold(page: str = page) -> None:
                st.cache_data.clear()
                st.cache_resource.clear()
                render(page)

            def render(page: str = page) -> None:
                at.switch_page(f"views/{page}.py").run()
                assert not at.exception, [e.message for e in at.exception]

            (first, first_cpu), (again, again_cpu) = timed_cpu(cold), timed_cpu(render)
            print(f"{page:<12} {first:>10.2f} {first_cpu:>10.2f} {again:>10.2f} {again_cpu:>10.2f}")


if __name__ == "__main__":
    main()
