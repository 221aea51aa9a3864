"""Shared widgets: the shell and week selector, cards, tables, CSV downloads, the page guard."""
