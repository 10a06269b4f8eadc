"""The assistant as an application: settings, build and run commands, web gateway (app runtime) and, later, the
project's own Rasa components (core runtime). `assistant.settings` is stdlib-only and safe in both runtimes."""
