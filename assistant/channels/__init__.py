"""Rasa input/output channels of the project (core runtime: Rasa, its dependencies and the standard library only).

Configured in `credentials.yml` by module path, e.g. `assistant.channels.telegram.PhotoTelegramInput:`.
"""
