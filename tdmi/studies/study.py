"""A study shared by any number of workers: RDB storage with heartbeats, a study-wide budget,
resume by name, and the sweep's outputs (trials CSV, the best trial as Hydra overrides).

- Storage: any SQLAlchemy URL; ``sqlite:///<project root>/optuna.db`` by default, PostgreSQL for workers
  on several machines. Every worker heartbeats its running trial; a worker killed mid-trial leaves
  it RUNNING until another worker (or the resumed sweep) finds its heartbeat stale, fails it and
  re-enqueues the same parameters (``RetryHeartbeatStaleTrialCallback``, Optuna >= 4.9's name
  for ``RetryFailedTrialCallback``).
- Budget: ``n_trials`` counts the study's outcomes, not one worker's: COMPLETE, PRUNED and FAIL
  trials whose objective failed (they carry ``fail_reason``). A trial failed only because its
  worker died is retried instead, so it does not count. Workers stop when the count is reached;
  trials already running then still finish, so the study may end a few trials (at most one per
  other worker) over the budget.
- Sampler: :class:`TrialSeededSampler` makes the configured sampler afresh for every trial, seeded
  by (``seed``, trial number). Optuna seeds a sampler once per process, so a resumed sweep (or a
  second worker given the same seed) replays the same random draws and repeats earlier trials'
  parameters; trial numbers are unique in a study, so per-trial seeds never repeat, and the run
  stays reproducible: the same study history and seed give the same parameters. TPE and the
  other model-based samplers read the finished trials from the storage, never from their own
  memory, so a fresh instance per trial loses nothing. Optuna is silent here; the choice is ours
  (``sweep.sampler`` in experiments/conf/sweep/default.yaml, where a plain sampler can replace it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from tdmi.results.studies import best_trial  # one definition, shared with the dashboard
from tdmi.utils.paths import project_root

StaleCallback = Callable[[optuna.Study, FrozenTrial], None]


def resolve_storage(configured: str | None = None, root: str | Path | None = None) -> str:
    """The configured URL, else ``optuna.db`` in the project root (``paths.root``)."""
    return configured or f"sqlite:///{project_root(root) / 'optuna.db'}"


def storage(url: str, heartbeat_interval: int, retry_callback: StaleCallback | None = None) -> RDBStorage:
    """RDB storage whose stale trials (no heartbeat for 2 intervals) fail, then ``retry_callback``."""
    return RDBStorage(url, heartbeat_interval=heartbeat_interval, heartbeat_stale_trial_callback=retry_callback)


def retry_and_close_run(experiment: str, tracking_uri: str, max_retry: int) -> StaleCallback:
    """Stale-trial callback: mark the dead worker's MLflow run KILLED, then retry the trial."""
    retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        client = mlflow.MlflowClient(tracking_uri)
        exp = client.get_experiment_by_name(experiment)
        query = (
            f"tags.study_name = '{study.study_name}' and tags.trial_number = '{trial.number}' "
            "and attributes.status = 'RUNNING'"
        )
        for run in client.search_runs([exp.experiment_id], query) if exp else []:
            client.set_tag(run.info.run_id, "state", "FAIL")
            client.set_tag(run.info.run_id, "fail_reason", "worker stopped sending heartbeats; trial retried")
            client.set_terminated(run.info.run_id, "KILLED")
        retry(study, trial)

    return callback


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """``make(seed=...)``'s sampler, a new one per trial seeded by (``seed``, trial number); see the
    module docstring. ``seed=None``: unseeded samplers (not reproducible)."""

    def __init__(self, sampler: Callable[..., optuna.samplers.BaseSampler], seed: int | None = None):
        self._make, self._seed = sampler, seed
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}

    def trial_seed(self, number: int) -> int | None:
        """A 32-bit seed for trial ``number``: NumPy's SeedSequence of (seed, number)."""
        if self._seed is None:
            return None
        return int(np.random.SeedSequence([self._seed, number]).generate_state(1)[0])

    def _sampler(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        if trial.number not in self._by_trial:
            self._by_trial[trial.number] = self._make(seed=self.trial_seed(trial.number))
        return self._by_trial[trial.number]

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._sampler(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        return self._sampler(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return self._sampler(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: Any
    ) -> Any:
        return self._sampler(trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._sampler(trial).after_trial(study, trial, state, values)
        self._by_trial.pop(trial.number, None)

    def reseed_rng(self) -> None:
        """Nothing to reseed: every trial's sampler is seeded by its trial number."""


def open_study(
    name: str,
    store: RDBStorage,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    directions: Sequence[str],
) -> optuna.Study:
    """Create the study, or load it by name (resume, or another worker's): creation is atomic in
    the database, so workers may start at the same moment."""
    return optuna.create_study(
        storage=store, study_name=name, sampler=sampler, pruner=pruner, directions=list(directions), load_if_exists=True
    )


def counted(study: optuna.Study) -> list[FrozenTrial]:
    """The trials that use up the budget (see the module docstring)."""
    return [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and "fail_reason" in t.user_attrs)
    ]


def run_budget(study: optuna.Study, objective: Callable[[optuna.Trial], Any], n_trials: int) -> None:
    """Run trials until the study holds ``n_trials`` outcomes; a failing trial never stops it."""
    optuna.storages.fail_stale_trials(study)  # a resumed sweep first retries what a killed one left

    def stop_at_budget(study: optuna.Study, _: FrozenTrial) -> None:
        if len(counted(study)) >= n_trials:
            study.stop()

    if len(counted(study)) < n_trials:
        study.optimize(objective, catch=(Exception,), callbacks=[stop_at_budget])


def write_outputs(study: optuna.Study, out_dir: Path, base_overrides: Sequence[str]) -> dict[str, Path]:
    """trials.csv (one row per trial) and best_overrides.txt: ``base_overrides`` (the sweep's own
    command line) then the best trial's values, one Hydra override per line, so
    ``python experiments/train.py $(cat best_overrides.txt)`` retrains the best trial."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"trials": out_dir / "trials.csv"}
    study.trials_dataframe().to_csv(files["trials"], index=False)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    best = best_trial(study) if done else None
    if best is not None:
        files["best"] = out_dir / "best_overrides.txt"
        values: Mapping[str, Any] = best.user_attrs["overrides"]
        lines = [*base_overrides, *(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in values.items())]
        files["best"].write_text("\n".join(lines) + "\n")
        study.set_user_attr("best_overrides_file", str(files["best"]))  # where the dashboard finds it
    return files
