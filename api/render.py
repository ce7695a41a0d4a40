"""One Jinja2 environment for every page the API renders: the portal's (``portal/…``) and the
credit report's. Autoescaping on, and an undefined name is an error, not an empty string."""
from __future__ import annotations

from pathlib import Path

import jinja2

TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                               undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(name: str, **context) -> str:
    return TEMPLATES.get_template(name).render(**context)
