"""The chaos suite: fault scenarios against the real bot process (``python -m tests.chaos``)."""
