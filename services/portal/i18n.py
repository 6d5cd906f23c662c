"""English and German, the languages of the notification templates.

The language is the person's own preference (their notification preferences), else the
browser's Accept-Language, else English. Texts are written in English in the templates
(`_("...")`) and looked up here; a text without a German entry shows in English, and a unit
test keeps that list empty.
"""
from __future__ import annotations

from flask import g, request, session

from services.portal.i18n_de import GERMAN

LANGUAGES = ("en", "de")


def choose_language() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
    preferred = session.get("lang")
    if preferred in LANGUAGES:
        return preferred
    return request.accept_languages.best_match(LANGUAGES) or "en"


def gettext(text: str, **values) -> str:
    lang = getattr(g, "lang", "en")
    translated = GERMAN.get(text, text) if lang == "de" else text
    return translated.format(**values) if values else translated
