"""docs/PERFORMANCE.md: each benchmark owns one "## " section and replaces it (or appends it)
with --write-doc, leaving the others as they are."""

from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "PERFORMANCE.md"


def replace_section(heading: str, section: str) -> None:
    """Put ``section`` (which starts with ``heading``) in place of the section that starts with
    ``heading``, up to the next "## " heading; at the end if there is none yet."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n\n"
    section = section.rstrip("\n") + "\n"
    if heading in text:
        start = text.index(heading)
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end:] if end != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
