"""The I/O boundaries, each an abstract class with an in-memory fake beside it.

Adapters for Google Cloud live in ``shared.adapters``; one contract test suite per port runs
against both the fake and the emulator-backed adapter (``tests/integration/contracts``).
"""
