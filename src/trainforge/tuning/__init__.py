"""Hyper-parameter search with Optuna: the search space from the config, pruned trials, a report."""
