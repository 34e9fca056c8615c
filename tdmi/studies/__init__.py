"""Studies over the training engine: Optuna sweeps (search space, objective, shared storage) and
the paper's ablation grid (seeds, skip-finished lookup in MLflow, mean +- std with confidence
intervals). Plain functions; the Hydra entry points are experiments/sweep.py and ablate.py."""
