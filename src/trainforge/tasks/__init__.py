"""Task families (one folder each, registered in `trainforge.config.tasks.TASKS`) and the
target handlers they share; the contract is `trainforge.tasks.family.TaskFamily`."""

from trainforge.tasks.targets import Target, make_target, target_from_state

__all__ = ["Target", "make_target", "target_from_state"]
