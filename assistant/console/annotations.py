"""Staff annotations of conversations: tags, notes and intent corrections, and the corrections as NLU training data.

A correction says "this shopper message meant intent X" (the model predicted something else). `export_nlu_yaml`
turns the corrections into a Rasa 3 NLU file that can be dropped into `data/nlu/` and trained with `make train-nlu`.
It keeps that file valid for `rasa data validate`: only intents of the domain (checked when the correction is made),
one line per example, no text that Rasa would read as entity markup or as a `/intent` command, and no example that
`data/nlu/` already has under another intent (the same text under two intents fails validation and confuses the
model) — each skipped example is listed in the file's header comment with the reason.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from assistant.settings import PROJECT_ROOT
from catalog.models import ConversationNoteRow, ConversationTagRow, IntentCorrectionRow, StaffAccountRow

MAX_TAG_CHARS = 40
MAX_NOTE_CHARS = 4000
MAX_EXAMPLE_CHARS = 1000
TAG = re.compile(r"[\w][\w\-]*")
ENTITY_MARKUP = re.compile(r"\[[^\]]+\](\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")
"""Rasa's inline entity annotation: [text](entity), [text]{"entity": ...}, [text][{...}]."""
DEFAULT_NLU_DIR = PROJECT_ROOT / "data" / "nlu"


class AnnotationError(ValueError):
    """A tag, note or correction that cannot be stored; the message says what to change."""


@dataclass(frozen=True)
class Note:
    id: int
    sender_id: str
    account_id: int
    author: str | None
    """Display name of the staff account that wrote it (None if the account is unknown)."""
    body: str
    created_at: datetime


@dataclass(frozen=True)
class Correction:
    id: int
    sender_id: str
    event_id: int
    text: str
    predicted_intent: str | None
    correct_intent: str
    account_id: int
    created_at: datetime


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def normalise_tag(tag: str) -> str:
    """'Late Delivery ' → 'late-delivery'. Raises `AnnotationError` for an empty, long or odd tag."""
    cleaned = "-".join(str(tag).strip().lower().split())
    if not cleaned:
        raise AnnotationError("a tag cannot be empty; type a word such as 'late-delivery'")
    if len(cleaned) > MAX_TAG_CHARS:
        raise AnnotationError(f"a tag has at most {MAX_TAG_CHARS} characters; {len(cleaned)} given")
    if not TAG.fullmatch(cleaned):
        raise AnnotationError(f"tag {cleaned!r}: use letters, digits, '-' and '_' only (e.g. 'late-delivery')")
    return cleaned


def example_text(text: str) -> str:
    """A message as one clean line: whitespace (line breaks included) collapsed, control characters dropped."""
    flat = " ".join(str(text).split())
    return "".join(c for c in flat if unicodedata.category(c) not in ("Cc", "Cs") and c != "\ufeff")


def _key(text: str) -> str:
    return example_text(text).casefold()


def domain_intents(domain_path: Path) -> frozenset[str]:
    """The intents a Rasa domain declares (`domain.yml`, or a folder of domain files)."""
    files = (
        sorted(domain_path.rglob("*.yml")) + sorted(domain_path.rglob("*.yaml"))
        if domain_path.is_dir()
        else [domain_path]
    )
    if not files or not all(f.is_file() for f in files):
        raise AnnotationError(f"no Rasa domain at {domain_path}; pass the project's domain.yml")
    intents: set[str] = set()
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise AnnotationError(f"{path} is not valid YAML: {exc}") from exc
        for entry in data.get("intents") or [] if isinstance(data, dict) else []:
            if isinstance(entry, str):
                intents.add(entry)
            elif isinstance(entry, dict):
                intents.update(str(name) for name in entry)
    return frozenset(intents)


def existing_examples(nlu_dir: Path) -> dict[str, set[str]]:
    """Casefolded plain text of every example in `nlu_dir/*.yml` (entity markup removed) → its intents."""
    found: dict[str, set[str]] = {}
    if not nlu_dir.is_dir():
        return found
    for path in sorted(nlu_dir.glob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise AnnotationError(f"{path} is not valid YAML: {exc}") from exc
        for item in (data.get("nlu") or []) if isinstance(data, dict) else []:
            if not isinstance(item, dict) or "intent" not in item:
                continue
            for text in _example_lines(item.get("examples")):
                plain = ENTITY_MARKUP.sub(lambda m: m.group(0)[1 : m.group(0).index("]")], text)
                found.setdefault(_key(plain), set()).add(str(item["intent"]))
    return found


def _example_lines(examples: Any) -> Iterable[str]:
    if isinstance(examples, str):
        for line in examples.splitlines():
            stripped = line.strip()
            if stripped.startswith("- "):
                yield stripped[2:]
    elif isinstance(examples, list):  # the long form: [{text: ..., metadata: ...}]
        for entry in examples:
            if isinstance(entry, dict) and "text" in entry:
                yield str(entry["text"])


class Annotations:
    """Tags, notes and intent corrections in the catalog DB (blocking: call from a thread in async code)."""

    def __init__(self, engine: Engine, known_intents: frozenset[str], nlu_dir: Path = DEFAULT_NLU_DIR) -> None:
        if not known_intents:
            raise AnnotationError("no known intents: pass domain_intents(PROJECT_ROOT / 'domain.yml')")
        self._engine = engine
        self.known_intents = known_intents
        self._nlu_dir = nlu_dir

    # --- tags -------------------------------------------------------------------------------------------------------

    def tags(self, sender_id: str) -> list[str]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(ConversationTagRow.tag)
                .where(ConversationTagRow.sender_id == sender_id)
                .order_by(ConversationTagRow.tag)
            )
            return [str(r.tag) for r in rows]

    def add_tag(self, sender_id: str, tag: str, account_id: int) -> None:
        """Add a tag (normalised, see `normalise_tag`); adding one the conversation has already is a no-op."""
        cleaned = normalise_tag(tag)
        _check_sender(sender_id)
        try:
            with self._engine.begin() as conn:
                exists = conn.scalar(
                    select(ConversationTagRow.tag).where(
                        ConversationTagRow.sender_id == sender_id, ConversationTagRow.tag == cleaned
                    )
                )
                if exists is None:
                    conn.execute(
                        insert(ConversationTagRow).values(
                            sender_id=sender_id, tag=cleaned, account_id=account_id, created_at=_now()
                        )
                    )
        except IntegrityError:  # added by someone else at the same moment: the tag is there, which was the point
            return
        except SQLAlchemyError as exc:
            raise AnnotationError(f"storing the tag failed: {exc}") from exc

    def remove_tag(self, sender_id: str, tag: str) -> None:
        try:
            cleaned = normalise_tag(tag)
        except AnnotationError:
            return  # a tag that cannot exist is not there
        with self._engine.begin() as conn:
            conn.execute(
                delete(ConversationTagRow).where(
                    ConversationTagRow.sender_id == sender_id, ConversationTagRow.tag == cleaned
                )
            )

    # --- notes ------------------------------------------------------------------------------------------------------

    def notes(self, sender_id: str) -> list[Note]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(ConversationNoteRow, StaffAccountRow.display_name)
                .join(StaffAccountRow, StaffAccountRow.id == ConversationNoteRow.account_id, isouter=True)
                .where(ConversationNoteRow.sender_id == sender_id)
                .order_by(ConversationNoteRow.created_at, ConversationNoteRow.id)
            )
            return [Note(r.id, r.sender_id, r.account_id, r.display_name, r.body, r.created_at) for r in rows]

    def add_note(self, sender_id: str, body: str, account_id: int) -> Note:
        text = str(body).strip()
        if not text:
            raise AnnotationError("a note cannot be empty; write what the next person should know")
        if len(text) > MAX_NOTE_CHARS:
            raise AnnotationError(f"a note has at most {MAX_NOTE_CHARS} characters; {len(text)} given")
        _check_sender(sender_id)
        now = _now()
        with self._engine.begin() as conn:
            note_id = conn.scalar(
                insert(ConversationNoteRow)
                .values(sender_id=sender_id, account_id=account_id, body=text, created_at=now)
                .returning(ConversationNoteRow.id)
            )
            author = conn.scalar(select(StaffAccountRow.display_name).where(StaffAccountRow.id == account_id))
        return Note(int(note_id or 0), sender_id, account_id, author, text, now)

    # --- corrections ------------------------------------------------------------------------------------------------

    def add_correction(
        self, sender_id: str, event_id: int, text: str, predicted: str | None, correct: str, account_id: int
    ) -> Correction:
        """Record that the message `event_id` meant `correct`. A second correction of the same message replaces the
        first. Raises `AnnotationError` for an intent the domain does not have or an empty message."""
        if correct not in self.known_intents:
            sample = ", ".join(sorted(self.known_intents)[:8])
            raise AnnotationError(f"{correct!r} is not an intent of the domain; choose one of {sample}, ...")
        line = example_text(text)
        if not line:
            raise AnnotationError("the corrected message has no text; only shopper messages can be corrected")
        if len(line) > MAX_EXAMPLE_CHARS:
            raise AnnotationError(f"the message is longer than {MAX_EXAMPLE_CHARS} characters; it cannot be an example")
        _check_sender(sender_id)
        if isinstance(event_id, bool) or not isinstance(event_id, int) or event_id < 0:
            raise AnnotationError(f"event id {event_id!r} must be a tracker event id (an integer ≥ 0)")
        now = _now()
        predicted_intent = str(predicted)[:100] if predicted else None
        values: dict[str, object] = {
            "text": line,
            "predicted_intent": predicted_intent,
            "correct_intent": correct,
            "account_id": account_id,
            "created_at": now,
        }
        with self._engine.begin() as conn:
            existing = conn.scalar(
                select(IntentCorrectionRow.id).where(
                    IntentCorrectionRow.sender_id == sender_id, IntentCorrectionRow.event_id == event_id
                )
            )
            if existing is not None:
                conn.execute(update(IntentCorrectionRow).where(IntentCorrectionRow.id == existing).values(**values))
                correction_id = int(existing)
            else:
                correction_id = int(
                    conn.scalar(
                        insert(IntentCorrectionRow)
                        .values(sender_id=sender_id, event_id=event_id, **values)
                        .returning(IntentCorrectionRow.id)
                    )
                    or 0
                )
        return Correction(correction_id, sender_id, event_id, line, predicted_intent, correct, account_id, now)

    def corrections(self, sender_id: str | None = None) -> list[Correction]:
        query = select(IntentCorrectionRow).order_by(IntentCorrectionRow.id)
        if sender_id is not None:
            query = query.where(IntentCorrectionRow.sender_id == sender_id)
        with self._engine.connect() as conn:
            return [
                Correction(
                    r.id, r.sender_id, r.event_id, r.text, r.predicted_intent, r.correct_intent, r.account_id,
                    r.created_at,
                )
                for r in conn.execute(query)
            ]  # fmt: skip

    def export_nlu_yaml(self) -> str:
        """Every correction as Rasa 3 NLU training data (see the module docstring for what is skipped and why)."""
        existing = existing_examples(self._nlu_dir)
        chosen: dict[str, Correction] = {}
        for correction in self.corrections():  # oldest first: a later correction of the same text wins
            chosen[_key(correction.text)] = correction
        by_intent: dict[str, list[str]] = {}
        skipped: list[str] = []
        for key, correction in chosen.items():
            text = example_text(correction.text)
            intent = correction.correct_intent
            if intent not in self.known_intents:  # the domain lost the intent since the correction was made
                skipped.append(f"{_quote(text)}: intent {intent} is no longer in the domain")
            elif text.startswith("/"):
                skipped.append(f"{_quote(text)}: a /command, not words")
            elif ENTITY_MARKUP.search(text):
                skipped.append(f"{_quote(text)}: Rasa would read the brackets as entity markup")
            elif existing.get(key, set()) - {intent}:
                others = ", ".join(sorted(existing[key] - {intent}))
                skipped.append(f"{_quote(text)}: already an example of {others} in data/nlu")
            elif intent in existing.get(key, set()):
                skipped.append(f"{_quote(text)}: already an example of {intent} in data/nlu")
            else:
                by_intent.setdefault(intent, []).append(text)
        exported = sum(len(v) for v in by_intent.values())
        lines = [
            "# Intent corrections made in the staff console, as Rasa NLU training data.",
            f"# Exported {_now().isoformat(timespec='seconds')} UTC: {exported} examples, {len(skipped)} skipped.",
            "# Save as data/nlu/corrections.yml and run `make train-nlu` (check with `make validate`).",
        ]
        lines += [f"# skipped {reason}" for reason in skipped]
        lines.append('version: "3.1"')
        if not by_intent:
            lines.append("nlu: []")
        else:
            lines.append("nlu:")
            for intent in sorted(by_intent):
                lines.append(f"  - intent: {intent}")
                lines.append("    examples: |")
                lines += [f"      - {text}" for text in by_intent[intent]]
        return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + (text if len(text) <= 80 else text[:79] + "…") + '"'


def _check_sender(sender_id: str) -> None:
    if not isinstance(sender_id, str) or not sender_id or len(sender_id) > 255:
        raise AnnotationError(f"sender id {sender_id!r} is not a conversation id (1 to 255 characters)")
