"""The sweep's sampler as shipped (experiments/conf/sweep/default.yaml): a study resumed in a new
process, or shared by two workers with the same seed, never repeats a trial's parameters, and the
same seed over the same history gives the same parameters. In-process (one storage shared by the
"processes"); the SIGKILLed
`experiments/sweep.py` end to end is tests/test_sweep.py's kill test. (Once TPE models the space it
may propose a discrete corner again, e.g. every MI term off: its choice, the same in an
uninterrupted study, which is what the resume test compares with.)"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tdmi.studies.search_space import flatten_space, suggest
from tdmi.studies.study import TrialSeededSampler

REPO = Path(__file__).resolve().parents[1]
SWEEP = OmegaConf.load(REPO / "experiments" / "conf" / "sweep" / "default.yaml")
SPACE = flatten_space(OmegaConf.to_container(SWEEP.space))

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
optuna.logging.set_verbosity(optuna.logging.WARNING)


def shipped_sampler(seed: int) -> optuna.samplers.BaseSampler:
    return instantiate(SWEEP.sampler, seed=seed)


def objective(trial: optuna.Trial) -> float:
    values = suggest(trial, SPACE)
    return sum(values.values())


def run(storage: optuna.storages.BaseStorage, sampler: optuna.samplers.BaseSampler, n: int) -> None:
    """One process's share of the sweep: load (or create) the study, run ``n`` trials."""
    study = optuna.create_study(
        storage=storage, study_name="s", sampler=sampler, direction="maximize", load_if_exists=True
    )
    study.optimize(objective, n_trials=n)


def param_sets(storage: optuna.storages.BaseStorage) -> list[tuple]:
    trials = optuna.load_study(study_name="s", storage=storage).trials
    return [tuple(sorted(t.params.items())) for t in trials]


def test_shipped_sampler_is_seeded_per_trial() -> None:
    sampler = shipped_sampler(3)
    assert isinstance(sampler, TrialSeededSampler)
    seeds = [sampler.trial_seed(n) for n in range(50)]
    assert len(set(seeds)) == 50 and seeds == [shipped_sampler(3).trial_seed(n) for n in range(50)]
    assert seeds != [shipped_sampler(4).trial_seed(n) for n in range(50)]


def test_a_resumed_study_never_repeats_parameters() -> None:
    """Killed inside TPE's random start-up trials, where a replay would repeat every draw."""
    storage = optuna.storages.InMemoryStorage()
    run(storage, shipped_sampler(0), 2)
    run(storage, shipped_sampler(0), 3)  # the restarted sweep: a new process, the same seed
    sets = param_sets(storage)
    assert len(sets) == 5 and len(set(sets)) == 5, sets


@pytest.mark.parametrize("n_first", [2, 7])  # killed in TPE's random start-up trials, and after
def test_a_resumed_study_draws_what_an_uninterrupted_one_would(n_first: int) -> None:
    whole, resumed = optuna.storages.InMemoryStorage(), optuna.storages.InMemoryStorage()
    run(whole, shipped_sampler(0), n_first + 4)
    run(resumed, shipped_sampler(0), n_first)
    run(resumed, shipped_sampler(0), 4)
    assert param_sets(resumed) == param_sets(whole)


def test_the_plain_seeded_sampler_repeats_itself_on_resume() -> None:
    """Why the wrapper exists: a sampler seeded once per process replays its first draws."""
    storage = optuna.storages.InMemoryStorage()
    plain = lambda: instantiate(SWEEP.sampler.sampler, seed=0)()  # noqa: E731
    run(storage, plain(), 2)
    run(storage, plain(), 2)
    sets = param_sets(storage)
    assert sets[2:] == sets[:2]


def test_two_workers_with_one_seed_draw_different_parameters() -> None:
    storage = optuna.storages.InMemoryStorage()
    workers = [
        optuna.create_study(
            storage=storage, study_name="s", sampler=shipped_sampler(5), direction="maximize", load_if_exists=True
        )
        for _ in range(2)
    ]
    for _ in range(3):
        for study in workers:
            study.optimize(objective, n_trials=1)
    sets = param_sets(storage)
    assert len(sets) == 6 and len(set(sets)) == 6, sets


def test_another_seed_draws_other_parameters() -> None:
    first, second = optuna.storages.InMemoryStorage(), optuna.storages.InMemoryStorage()
    run(first, shipped_sampler(1), 3)
    run(second, shipped_sampler(2), 3)
    assert not set(param_sets(first)) & set(param_sets(second))
