"""Text the services accept from clients, and hashtags.

Every string of a request (body field, query or path parameter) is one of the types
here, so what PostgreSQL cannot store (NUL, a lone surrogate) and what no person
types (control characters) is refused with 422 before a route runs, and the
OpenAPI document says so with a ``pattern``:

* :data:`SafeLine`: one line (names, e-mail addresses, search text, tags): no control
  character at all;
* :data:`SafeText`: free text (captions, comments, messages, bios): line feeds,
  carriage returns and tabs allowed, no other control character (``NONBLANK_TEXT``:
  and not only white space);
* :data:`WebUrl`: an ``http`` or ``https`` URL of at most 2048 characters.

With constraints of their own, the rule goes last:
``Annotated[str, StringConstraints(max_length=100), SAFE_TEXT]``.

Hashtags are compared in one form everywhere (:func:`normalise_hashtag`): NFKC, then
case-folded, so full-width and other compatibility forms of letters (full-width or
mathematical bold letters, the long s) and case variants are one hashtag.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

#: C0 controls but tab, line feed, carriage return; DEL and C1 controls
_TEXT_REFUSED = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
#: every control character
_LINE_REFUSED = r"\x00-\x1f\x7f-\x9f"

TEXT_PATTERN = f"^[^{_TEXT_REFUSED}]*$"
LINE_PATTERN = f"^[^{_LINE_REFUSED}]*$"
#: the same, with at least one character that is not white space
NONBLANK_TEXT_PATTERN = f"^[^{_TEXT_REFUSED}]*[^\\s{_TEXT_REFUSED}][^{_TEXT_REFUSED}]*$"
#: scheme http or https (any case), a host, then anything but spaces and controls
URL_PATTERN = (rf"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#{_LINE_REFUSED}]+"
               rf"(?:[/?#][^\s{_LINE_REFUSED}]*)?$")
URL_MAX_LENGTH = 2048


class TextRule:
    """Pydantic metadata: refuse a lone surrogate, then a string that does not match
    ``pattern``, and document the pattern (a field's own, stricter pattern stands).
    Put it after the field's other constraints:
    ``Annotated[str, StringConstraints(max_length=100), SAFE_LINE]``."""

    def __init__(self, pattern: str, error: str, message: str, *,
                 nonblank: bool = False) -> None:
        self.pattern = pattern
        self.regex = re.compile(pattern)
        self.nonblank = nonblank
        self._error = error
        self._message = message

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # a lone surrogate is refused before pydantic-core's own string checks, whose
        # error would carry it (and it cannot be written in a JSON Schema pattern)
        inner = core_schema.no_info_before_validator_function(_refuse_surrogates,
                                                              handler(source))
        return core_schema.no_info_after_validator_function(self._check, inner)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        handler.resolve_ref_schema(json_schema).setdefault("pattern", self.pattern)
        return json_schema

    def _check(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if self.nonblank and not value.strip():
            raise PydanticCustomError("blank_text", "Text must not be blank")
        if self.regex.match(value) is None:
            raise PydanticCustomError(self._error, self._message)
        return value

    def __repr__(self) -> str:
        return f"TextRule({self.pattern!r})"


def _refuse_surrogates(value: Any) -> Any:
    if isinstance(value, str) and has_lone_surrogate(value):
        raise PydanticCustomError("string_unicode", "Text must be valid Unicode")
    return value


def has_lone_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


SAFE_TEXT = TextRule(TEXT_PATTERN, "unsafe_text",
                     "Text must not contain control characters other than tab and line breaks")
SAFE_LINE = TextRule(LINE_PATTERN, "unsafe_text", "Text must not contain control characters")
#: :data:`SAFE_TEXT` that is not only white space (a comment, a message)
NONBLANK_TEXT = TextRule(NONBLANK_TEXT_PATTERN, "unsafe_text", SAFE_TEXT._message,
                         nonblank=True)
WEB_URL = TextRule(URL_PATTERN, "url_scheme",
                   "URL must be an http or https address with a host and no spaces")

SafeText = Annotated[str, SAFE_TEXT]
SafeLine = Annotated[str, SAFE_LINE]
WebUrl = Annotated[str, StringConstraints(max_length=URL_MAX_LENGTH), WEB_URL]
