"""End-to-end tests: the bot as operators run it (``arbtui run --headless``), as a separate process."""
