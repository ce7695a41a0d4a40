"""The web portal (/portal/…): pages (pages.py), sessions (sessions.py) and their words (text.py)."""
from creditstream.api.portal.pages import Portal, claims_of, explained, missing_translations
from creditstream.api.portal.sessions import Session, Sessions

__all__ = ["Portal", "Session", "Sessions", "claims_of", "explained", "missing_translations"]
