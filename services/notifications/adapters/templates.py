"""Jinja2 templates: one file per (language, category) with `subject`, `text` and `html` blocks.

`templates/<lang>/<category>.j2`; the HTML block escapes (it sits in an autoescape block), the
layouts `layout.txt.j2` / `layout.html.j2` add the footer with the unsubscribe link. A
recipient gets the first of their languages that has a template for the category, else English.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, TemplateNotFound, pass_context, select_autoescape
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FALLBACK = "en"

# The reason codes events carry (shared.events.catalog.matching END_REASONS, DECLINE_REASONS), in
# the words a recipient reads; `{{ reason | reason }}` in a template. A code added later without
# words here still reads as words ("some_code" -> "some code").
REASON_WORDS = {
    "en": {"no_time": "no time", "not_a_fit": "not a good fit", "other": "another reason",
           "completed": "completed", "participant_left": "a participant left",
           "by_admin": "ended by the programme's admins"},
    "de": {"no_time": "keine Zeit", "not_a_fit": "passt nicht", "other": "ein anderer Grund",
           "completed": "abgeschlossen", "participant_left": "eine:r der beiden ist ausgeschieden",
           "by_admin": "von der Programmleitung beendet"},
}


@pass_context
def reason_in_words(context, code) -> str:
    if not code:
        return ""
    words = REASON_WORDS.get(context.get("lang") or FALLBACK, REASON_WORDS[FALLBACK])
    return words.get(code) or REASON_WORDS[FALLBACK].get(code) or str(code).replace("_", " ")


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    text: str
    html: str


class TemplateRenderer:
    """Why the folder is listed once and `auto_reload` is off: the templates ship with the code, and
    a file-system check per look-up (which language has the category, is there a layout, has the
    file changed) cost eight `stat` calls per message, the senders' largest cost after SMTP."""

    def __init__(self, folder: Path = TEMPLATES):
        self.env = Environment(
            loader=FileSystemLoader(str(folder)),
            auto_reload=False,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["reason"] = reason_in_words
        self.folder = folder
        self._files = frozenset(path.relative_to(folder).as_posix() for path in folder.glob("*/*.j2") if path.is_file())

    def has(self, language: str, category: str) -> bool:
        return f"{language}/{category}.j2" in self._files

    def language_for(self, category: str, languages) -> str:
        for language in languages or ():
            if language and self.has(language, category):
                return language
        return FALLBACK

    def render(self, category: str, languages, context: dict) -> Rendered:
        language = self.language_for(category, languages)
        try:
            template = self.env.get_template(f"{language}/{category}.j2")
        except TemplateNotFound:
            raise LookupError(f"no template for category {category}") from None
        values = {**context, "lang": language}
        block_context = template.new_context(values)

        def block(name: str) -> str:
            return "".join(template.blocks[name](block_context)).strip()

        subject = " ".join(block("subject").split())
        text_body = block("text")
        html_body = block("html")
        layout_values = {**values, "subject": subject}
        text = self.env.get_template(f"{language}/layout.txt.j2" if self.has_layout(language) else "en/layout.txt.j2").render(
            body=text_body, **layout_values)
        html = self.env.get_template(f"{language}/layout.html.j2" if self.has_layout(language) else "en/layout.html.j2").render(
            body=Markup(html_body), **layout_values)
        return Rendered(language=language, subject=subject, text=text, html=html)

    def has_layout(self, language: str) -> bool:
        return self.has(language, "layout.txt") and self.has(language, "layout.html")
