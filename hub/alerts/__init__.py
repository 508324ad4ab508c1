"""Alerts: dead letters, re-authorization, error rates and API credits, by email and webhook.

The parts, each a module with one job:

- ``settings``: the ``alerts:`` section of hub.yaml (pydantic models).
- ``model``: ``Alert`` (one occurrence, with its context) and ``Notice`` (what is sent).
- ``gate``: the storm gate's rules (pure): the first alert of a (rule, key)
  goes out at once, the rest of the window is counted into one digest.
- ``state``: the gate's state in the store (``alert_state``), so every hub
  process shares one gate and a storm sends one message, not one per process.
- ``render``: a notice as an email (subject, text) and as a JSON document.
- ``channels``: SMTP and outbound webhook senders.
- ``checks``: the periodic rules (error rate over a window, API credits).
- ``service``: ``Alerter``, which ties them together inside a hub process.

This module imports nothing, so ``hub.config`` can import ``hub.alerts.settings``
without pulling in the rest.
"""
