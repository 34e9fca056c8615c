"""Optuna study over the config (space, sampler, pruner: the Hydra group `sweep/`); each trial one
training run through tdmi.engine, a nested MLflow run under the sweep's parent run.

    python experiments/sweep.py [sweep.n_trials=50] [sweep.study=NAME] [sweep.storage=URL] [model.tiny_width=16] ...

Workers on several machines share a study through one database (the `--storage URL --study NAME`
of other tools are the Hydra overrides sweep.storage=URL sweep.study=NAME); a rerun with the same
name resumes it, retrying trials a killed worker left behind. Writes `sweep.out_dir`/trials.csv and
best_overrides.txt, and prints how to open the study in optuna-dashboard and the runs in MLflow.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import hydra
import mlflow
import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tdmi.cli import entry_point
from tdmi.engine.tracking import MLflowTracker, artifact_location, resolve_tracking_uri
from tdmi.redact import redact
from tdmi.run import RunSpec
from tdmi.studies.objective import Objective, check_study_name, trial_spec
from tdmi.studies.search_space import check_space, flatten_space, grid
from tdmi.studies.study import (
    best_trial,
    open_study,
    resolve_storage,
    retry_and_close_run,
    run_budget,
    storage,
    write_outputs,
)
from tdmi.utils.paths import project_root, under_root

# Heartbeats, fail_stale_trials and TPE's `group` are Optuna "experimental" features we rely on knowingly.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def trial_builder(cfg: DictConfig) -> Any:
    """``(values, number) -> RunSpec``: the composed config with one trial's values, in
    ``sweep.train_dir``/trial-<number>; a key the config lacks fails there."""
    config, root = OmegaConf.to_container(cfg, resolve=True), project_root(cfg.paths.root)
    trials = under_root(cfg.sweep.train_dir, root)

    def build(values: dict[str, Any], number: int) -> RunSpec:
        return trial_spec(config, values, trials / f"trial-{number}", root)

    return build


def parent_run_id(cfg: DictConfig, uri: str, url: str) -> str:
    """The study's one MLflow parent run, shared by all its workers: found by its tags, else made.
    Workers starting at the same moment may each make one; all then take the oldest and the
    others are deleted."""
    mlflow.set_tracking_uri(uri)
    client, name = mlflow.MlflowClient(uri), cfg.sweep.mlflow_experiment
    with contextlib.suppress(mlflow.exceptions.MlflowException):  # exists, or another worker just made it
        client.create_experiment(name, artifact_location=artifact_location(uri))
    experiment_id = client.get_experiment_by_name(name).experiment_id
    query = f"tags.study_name = '{cfg.sweep.study}' and tags.sweep = 'true'"

    def oldest() -> str | None:
        runs = client.search_runs([experiment_id], query, order_by=["attributes.start_time ASC"], max_results=1)
        return runs[0].info.run_id if runs else None

    if (found := oldest()) is not None:
        return found
    with MLflowTracker(name, uri, run_name=cfg.sweep.study) as parent:
        parent.log_config(OmegaConf.to_container(cfg, resolve=True))
        mlflow.set_tags({"study_name": cfg.sweep.study, "optuna_storage": redact(url), "sweep": "true"})
    if (found := oldest()) != parent.run_id:
        client.delete_run(parent.run_id)
    return found


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> float | None:
    sweep = cfg.sweep
    check_study_name(sweep.study)  # before any study or run exists
    space = flatten_space(OmegaConf.to_container(sweep.space, resolve=True))
    check_space(space)
    build = trial_builder(cfg)
    build(next(grid(space)), 0)  # a typo in the space fails now, not in every trial
    uri = resolve_tracking_uri(cfg.mlflow.tracking_uri, cfg.paths.root)
    url = resolve_storage(sweep.storage, cfg.paths.root)
    store = storage(url, sweep.heartbeat_interval, retry_and_close_run(sweep.mlflow_experiment, uri, sweep.max_retry))
    directions = ["maximize", "minimize"] if sweep.cost_objective else ["maximize"]
    study = open_study(sweep.study, store, instantiate(sweep.sampler), instantiate(sweep.pruner), directions)
    objective = Objective(space, build, sweep.mlflow_experiment, uri, sweep.cost_objective)
    with mlflow.start_run(run_id=parent_run_id(cfg, uri, url)) as parent:
        run_budget(study, objective, sweep.n_trials)
        base = [o for o in HydraConfig.get().overrides.task if not o.lstrip("+~").startswith(("sweep.", "sweep=", "hydra."))]
        files = write_outputs(study, under_root(sweep.out_dir, project_root(cfg.paths.root)), base)
        mlflow.log_artifacts(str(files["trials"].parent), "sweep")
        best = best_trial(study) if "best" in files else None
        if best is not None:
            mlflow.log_metrics({"best/mAP": best.values[0], "best/trial": best.number})
            mlflow.set_tag("best_overrides_file", str(files["best"]))  # as the study's user attr
    states = [t.state.name for t in study.trials]
    print(f"study {sweep.study!r} in {redact(url)}: {len(states)} trials, " + ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states))))
    if best is not None:
        print(f"best: trial {best.number}, val mAP {best.values[0]:.2f}: {best.user_attrs['overrides']}")
        print(f"retrain it: python experiments/train.py $(cat {files['best']})")
    print(f"trials: {files['trials']}")
    print(f"study:  optuna-dashboard {redact(url)}")
    ui = uri if uri.startswith(("http://", "https://")) else f"mlflow ui --backend-store-uri {uri}"
    print(f"runs:   {redact(ui)}  (parent run {parent.info.run_id}, experiment {sweep.mlflow_experiment!r})")
    return best.values[0] if best is not None else None


if __name__ == "__main__":
    main()
