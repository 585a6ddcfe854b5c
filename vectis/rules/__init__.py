"""The rules engine: triggers, conditions, cross-system predicates, the evaluator and dry-run recording."""
