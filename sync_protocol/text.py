"""Text hygiene for every human-entered string that crosses the wire.

Names are typed by staff in Arabic and English on whatever keyboard the center has, so the
same name must always be the same code points (NFC) and nothing invisible may hide in it:
bidi overrides can make a record display differently from what it stores.
"""

from __future__ import annotations

import re
import unicodedata

from sync_protocol.errors import TextError

__all__ = ["ARABIC_INDIC_DIGITS", "clean_text", "require_ascii_digits", "require_slug"]

# Arabic-Indic (U+0660..) and Extended Arabic-Indic (U+06F0..) digits: staff keyboards
# produce them, but identifiers are defined over ASCII digits only.
ARABIC_INDIC_DIGITS = frozenset("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹")

# Cc control, Cf format (bidi marks/overrides/isolates, zero-width joiners, BOM),
# Co private use, Cs surrogates, Cn unassigned, Zl/Zp line and paragraph separators.
_REJECTED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


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
    text = unicodedata.normalize("NFC", value).strip(" ")
    if not text and not allow_empty:
        raise TextError(f"{field} must not be empty", field=field)
    if len(text) > max_chars:
        raise TextError(f"{field} is longer than {max_chars} characters", field=field)
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
    if "  " in text:
        raise TextError(f"{field} contains repeated spaces", field=field)
    return text


def require_ascii_digits(value: object, *, field: str, length: int) -> str:
    """Return ``value`` if it is exactly ``length`` ASCII digits, else raise a clear error."""
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
    if not isinstance(value, str) or _SLUG.fullmatch(value) is None:
        raise TextError(
            f"{field} must be 1-64 lowercase ASCII letters, digits or '-' "
            "(not starting or ending with '-')",
            field=field,
        )
    return value
