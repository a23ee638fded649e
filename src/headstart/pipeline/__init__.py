"""Orchestration: the stages of ``fit``, each a function with typed inputs and outputs."""
