"""Training: the Lightning module, optimisers and schedules, callbacks, loaders and the Trainer."""
