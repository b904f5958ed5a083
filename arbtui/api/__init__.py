"""The headless HTTP service and its client.

- :mod:`arbtui.api.http` — ``build_app`` (health, ready, metrics, authenticated control) and ``serve``.
- :mod:`arbtui.api.client` — ``ControlClient``, a small httpx client of the control routes.
- :mod:`arbtui.api.commands` — ``register(group)`` adds ``pause``/``resume``/``kill``/``clear-kill``/``hedge``
  to the ``arbtui`` command.

Nothing is imported here, so the CLI's control commands load neither aiohttp nor the engine.
"""
