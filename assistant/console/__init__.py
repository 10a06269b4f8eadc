"""The staff console: where support staff read transcripts, take conversations over from the assistant, annotate and
correct it, see how it is doing, and erase shoppers' data.

Data layer (blocking, SQLAlchemy 2; the web handlers call it through `asyncio.to_thread`):
- `accounts` staff accounts with Argon2id passwords and roles; `audit` the audit log of every staff access;
- `transcripts` reads Rasa's SQL tracker store (its `events` table) into typed transcript items;
- `index` keeps `conversations`, the console's searchable summary of the tracker store, in step with it;
- `queries` the conversation list: text search, filters, pages; `handoffs` the queue of conversations for a person;
- `annotations`, `insight`, `privacy` (tags, notes, intent corrections; charts' data; erasure and retention).
The web application is `assistant.console.web`; `python -m assistant.console` is the staff CLI.

Transcripts are never copied: the tracker store stays the record, the console's own tables live in the catalog DB.
"""
