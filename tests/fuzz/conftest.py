"""The fuzzing tier's fixtures: the local stack, and what the fuzzer tallies."""

from tests.fuzz.fuzz_stack import example_tally, fuzzed_stack, mx_fuzzed_stack, mx_stack_probe, stack_probe  # noqa: F401 - fixtures of this tier
