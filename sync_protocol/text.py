"""Text hygiene for every human-entered string that crosses the wire.

Names are typed by staff in Arabic and English on whatever keyboard the center has, so the
same name must always be the same code points (NFC) and nothing invisible may hide in it:
bidi overrides can make a record display differently from what it stores.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from sync_protocol.errors import TextError

__all__ = ["ARABIC_INDIC_DIGITS", "clean_text", "require_ascii_digits", "require_slug"]

# Arabic-Indic (U+0660..) and Extended Arabic-Indic (U+06F0..) digits: staff keyboards
# produce them, but identifiers are defined over ASCII digits only.
ARABIC_INDIC_DIGITS = frozenset("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹")

# Cc control, Cf format (bidi marks/overrides/isolates, zero-width joiners, BOM),
# Co private use, Cs surrogates, Cn unassigned, Zl/Zp line and paragraph separators.
_REJECTED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_PASSED_SLUGS: set[str] = set()  # slugs already matched (see _PASSED_TEXT)


def clean_text(
    value: object,
    *,
    field: str,
    max_chars: int,
    allow_empty: bool = False,
    allow_digits: bool = True,
) -> str:
    """Return ``value`` NFC-normalised and trimmed, or raise :class:`TextError`.

    Rejects invisible and bidi control characters, any space other than U+0020, runs of
    spaces, and (with ``allow_digits=False``) any digit, ASCII or not.
    """
    if not isinstance(value, str):
        raise TextError(f"{field} must be text", field=field)
    # Bound the work before normalising: NFC can expand a string a few times over.
    if len(value) > max_chars * 4:
        raise TextError(f"{field} is longer than {max_chars} characters", field=field)
    # ASCII and most staff input are NFC already; the check is cheaper than normalising.
    if value.isascii() or unicodedata.is_normalized("NFC", value):
        text = value.strip(" ")
    else:
        text = unicodedata.normalize("NFC", value).strip(" ")
    if not text and not allow_empty:
        raise TextError(f"{field} must not be empty", field=field)
    if len(text) > max_chars:
        raise TextError(f"{field} is longer than {max_chars} characters", field=field)
    _check_characters(text, field=field, allow_digits=allow_digits)
    if "  " in text:
        raise TextError(f"{field} contains repeated spaces", field=field)
    return text


# Characters already seen to pass the per-character rules (with and without digits
# allowed). Names and notes draw on a few hundred characters, so after the first records
# a check is one set inclusion instead of a ``unicodedata.category`` call per character.
# Only characters that passed are ever added, so the sets change speed, never outcomes;
# they are bounded so hostile input cannot grow them without limit.
_PASSED_TEXT: set[str] = set()
_PASSED_NAME: set[str] = set()
_PASSED_LIMIT: Final = 4096


def _check_characters(text: str, *, field: str, allow_digits: bool) -> None:
    passed = _PASSED_TEXT if allow_digits else _PASSED_NAME
    chars = set(text)
    if chars <= passed:
        return
    _check_each_character(text, field=field, allow_digits=allow_digits)
    if len(passed) < _PASSED_LIMIT:
        passed.update(chars)


def _check_each_character(text: str, *, field: str, allow_digits: bool) -> None:
    """The per-character rules, in position order: the first offending character is the
    one reported."""
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category in _REJECTED_CATEGORIES:
            raise TextError(
                f"{field} contains an invisible or control character "
                f"U+{ord(char):04X} at position {position}",
                field=field,
            )
        if category == "Zs" and char != " ":
            raise TextError(
                f"{field} contains a non-standard space U+{ord(char):04X} at position "
                f"{position}; use a plain space",
                field=field,
            )
        if not allow_digits and category == "Nd":
            raise TextError(f"{field} must not contain digits", field=field)


def require_ascii_digits(value: object, *, field: str, length: int) -> str:
    """Return ``value`` if it is exactly ``length`` ASCII digits, else raise a clear error."""
    if type(value) is str and len(value) == length and value.isascii() and value.isdigit():
        return value  # the common case, which none of the checks below would reject
    if not isinstance(value, str):
        raise TextError(f"{field} must be text of {length} digits", field=field)
    if len(value) > length * 4:
        raise TextError(f"{field} must be exactly {length} digits", field=field)
    if any(char in ARABIC_INDIC_DIGITS for char in value):
        raise TextError(
            f"{field} uses Arabic-Indic digits (٠-٩); enter it with ASCII digits 0-9",
            field=field,
        )
    if len(value) != length or not (value.isascii() and value.isdigit()):
        raise TextError(f"{field} must be exactly {length} ASCII digits 0-9", field=field)
    return value


def require_slug(value: object, *, field: str) -> str:
    """Return ``value`` if it is a lowercase ASCII identifier like ``sharm-el-sheikh``."""
    if type(value) is str and value in _PASSED_SLUGS:
        return value
    if not isinstance(value, str) or _SLUG.fullmatch(value) is None:
        raise TextError(
            f"{field} must be 1-64 lowercase ASCII letters, digits or '-' "
            "(not starting or ending with '-')",
            field=field,
        )
    if type(value) is str and len(_PASSED_SLUGS) < _PASSED_LIMIT:
        _PASSED_SLUGS.add(value)  # center and staff ids repeat on every record
    return value


# --- fast predicates for record parsing --------------------------------------------------
# Each answers True only for a value the check above returns unchanged, and False for
# anything it is not sure of; the caller then runs the check itself, which reports the
# error. So they change speed, never outcomes.


def _is_slug(value: object) -> bool:
    """``require_slug(value)`` would return ``value``."""
    if type(value) is not str:
        return False
    if value in _PASSED_SLUGS:
        return True
    if _SLUG.fullmatch(value) is None:
        return False
    if len(_PASSED_SLUGS) < _PASSED_LIMIT:
        _PASSED_SLUGS.add(value)
    return True


def _is_canonical(value: object, max_chars: int, allow_empty: bool, allow_digits: bool) -> bool:
    """``clean_text(value, ...)`` would return ``value`` itself (already NFC and trimmed)."""
    if type(value) is not str or len(value) > max_chars:
        return False
    if not value:
        return allow_empty
    if value[0] == " " or value[-1] == " " or "  " in value:
        return False
    if not (value.isascii() or unicodedata.is_normalized("NFC", value)):
        return False
    return (_PASSED_TEXT if allow_digits else _PASSED_NAME).issuperset(value)
