"""The sweep: an Optuna study over the composed config, each trial one training run (tdmi/run.py)
as a nested MLflow run under the study's one parent run.

Every trial follows the authors' recipe as the ablation grid does (tdmi/recipe.py, phase 2): it
starts from the pretrain stage's single-frame network (``pretrain.checkpoint``), frozen as
``pretrain.freeze_backbone`` says, and trains for the sweep's own budget (``sweep.epochs``, not
``train.epochs``: a trial must last long enough for the pruner's warm-up to leave epochs to save, so
``sweep.pruner.n_warmup_steps`` must be below it). A missing network fails before the study exists,
naming ``pretrain.checkpoint`` and how to make it. best_overrides.txt ends with the recipe's keys, so
retraining the best trial starts from the same network for the same epochs.

Checked before anything exists: the study name (it is quoted in MLflow filters and names a
folder) and the search space (a key the config lacks fails for trial 0, not in every trial).
Workers on several machines share the study through its storage; each resumes it by name. The
outputs (trials CSV, best overrides) are written by tdmi/studies/study.py; the path of the best
overrides file is recorded on the study (user attr) and on the parent run (tag), so nobody has to
glob for it. The sampler and pruner come in as objects (the entry point instantiates them from
the config), so this module knows no Hydra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import optuna
from optuna.trial import FrozenTrial

from tdmi.engine.tracking import MLflowTracker, artifact_location, resolve_tracking_uri
from tdmi.recipe import own_checkpoint, temporal_config
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
from tdmi.utils.config import require, require_count
from tdmi.utils.paths import project_root, under_root


@dataclass
class SweepResult:
    study: optuna.Study
    best: FrozenTrial | None
    files: dict[str, Path]  # trials, best (when a trial completed)
    storage_url: str
    tracking_uri: str
    experiment: str  # the MLflow experiment of the parent and trial runs
    parent_run_id: str

    def summary(self) -> str:
        """What a user reads at the end: states, the best trial, and where to look further."""
        states = [t.state.name for t in self.study.trials]
        counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
        lines = [f"study {self.study.study_name!r} in {redact(self.storage_url)}: {len(states)} trials, {counts}"]
        if (best := self.best) is not None:
            lines += [
                f"best: trial {best.number}, val mAP {best.values[0]:.2f}: {best.user_attrs['overrides']}",
                f"retrain it: python experiments/train.py $(cat {self.files['best']})",
            ]
        uri = self.tracking_uri
        ui = uri if uri.startswith(("http://", "https://")) else f"mlflow ui --backend-store-uri {uri}"
        lines += [
            f"trials: {self.files['trials']}",
            f"study:  optuna-dashboard {redact(self.storage_url)}",
            f"runs:   {redact(ui)}  (parent run {self.parent_run_id}, experiment {self.experiment!r})",
        ]
        return "\n".join(lines)


def recipe_config(config: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """The config every trial starts from: phase 2 of the recipe for ``sweep.epochs`` epochs;
    checks the budget, the pruner's warm-up and the pretrained network (module docstring)."""
    sweep, pretrain = config["sweep"], config["pretrain"]
    epochs = require_count(sweep.get("epochs"), "sweep.epochs", "each trial's epochs on the pretrained network")
    warmup = sweep.get("pruner", {}).get("n_warmup_steps")
    require(
        warmup is None or warmup < epochs,
        "sweep.pruner.n_warmup_steps",
        warmup,
        f"must be below sweep.epochs={epochs}: a trial is pruned at epoch n_warmup_steps at the earliest",
    )
    require(
        under_root(pretrain["checkpoint"], root).is_file(),
        "pretrain.checkpoint",
        pretrain["checkpoint"],
        f"does not exist: every trial starts from it; make it with `dvc repro pretrain` (or "
        f"python experiments/pretrain.py, into {own_checkpoint(config)}) or give a trained pose network",
    )
    out = temporal_config(config)
    out["train"]["epochs"] = epochs
    return out


def recipe_overrides(config: Mapping[str, Any]) -> list[str]:
    """The recipe's keys as Hydra overrides (after the command line's: the last value wins)."""
    return [
        f"model.init_from={config['pretrain']['checkpoint']}",
        f"train.freeze_backbone={str(config['pretrain']['freeze_backbone']).lower()}",
        f"train.epochs={config['sweep']['epochs']}",
    ]


def trial_builder(config: Mapping[str, Any], root: Path) -> Callable[[dict[str, Any], int], RunSpec]:
    """``(values, number) -> RunSpec``: the recipe's config (:func:`recipe_config`) with one trial's
    values, trained in ``sweep.train_dir``/trial-<number>."""
    trials, base = under_root(config["sweep"]["train_dir"], root), recipe_config(config, root)
    return lambda values, number: trial_spec(base, values, trials / f"trial-{number}", root)


def parent_run_id(config: Mapping[str, Any], uri: str, url: str) -> str:
    """The study's one MLflow parent run, shared by all its workers: found by its tags, else made.
    Workers starting at the same moment may each make one; all then take the oldest and the
    others are deleted."""
    sweep = config["sweep"]
    mlflow.set_tracking_uri(uri)
    client, name = mlflow.MlflowClient(uri), sweep["mlflow_experiment"]
    with contextlib.suppress(mlflow.exceptions.MlflowException):  # exists, or another worker just made it
        client.create_experiment(name, artifact_location=artifact_location(uri))
    experiment_id = client.get_experiment_by_name(name).experiment_id
    query = f"tags.study_name = '{check_study_name(sweep['study'])}' and tags.sweep = 'true'"

    def oldest() -> str | None:
        runs = client.search_runs([experiment_id], query, order_by=["attributes.start_time ASC"], max_results=1)
        return runs[0].info.run_id if runs else None

    if (found := oldest()) is not None:
        return found
    with MLflowTracker(name, uri, run_name=sweep["study"]) as parent:
        parent.log_config(config)
        mlflow.set_tags({"study_name": sweep["study"], "optuna_storage": redact(url), "sweep": "true"})
    if (found := oldest()) != parent.run_id:
        client.delete_run(parent.run_id)
    return found


def run_sweep(
    config: Mapping[str, Any],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    base_overrides: Sequence[str] = (),
    root: str | Path | None = None,
) -> SweepResult:
    """Run trials until the study holds ``sweep.n_trials`` outcomes (module docstring).
    ``base_overrides``: the command line's own overrides, the first lines of best_overrides.txt
    (then the recipe's, :func:`recipe_overrides`)."""
    sweep = config["sweep"]
    check_study_name(sweep["study"])  # before any study or run exists
    root = project_root(root)
    space = flatten_space(sweep["space"])
    check_space(space)
    build = trial_builder(config, root)
    build(next(grid(space)), 0)  # a typo in the space fails now, not in every trial
    uri = resolve_tracking_uri(config["mlflow"]["tracking_uri"], root)
    url = resolve_storage(sweep["storage"], root)
    store = storage(
        url, sweep["heartbeat_interval"], retry_and_close_run(sweep["mlflow_experiment"], uri, sweep["max_retry"])
    )
    directions = ["maximize", "minimize"] if sweep["cost_objective"] else ["maximize"]
    study = open_study(sweep["study"], store, sampler, pruner, directions)
    objective = Objective(space, build, sweep["mlflow_experiment"], uri, sweep["cost_objective"])
    with mlflow.start_run(run_id=parent_run_id(config, uri, url)) as parent:
        run_budget(study, objective, sweep["n_trials"])
        files = write_outputs(study, under_root(sweep["out_dir"], root), [*base_overrides, *recipe_overrides(config)])
        mlflow.log_artifacts(str(files["trials"].parent), "sweep")
        best = best_trial(study) if "best" in files else None
        if best is not None:
            mlflow.log_metrics({"best/mAP": best.values[0], "best/trial": best.number})
            mlflow.set_tag("best_overrides_file", str(files["best"]))  # as the study's user attr
    return SweepResult(study, best, files, url, uri, sweep["mlflow_experiment"], parent.info.run_id)
