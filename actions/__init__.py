"""Thin Rasa SDK actions. rasa-sdk imports every module here at start-up: no I/O at import or in `__init__`."""
