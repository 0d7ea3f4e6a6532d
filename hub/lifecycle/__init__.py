"""Status per (document, recipient) from edoc.events, and overdue documents (docs/lifecycle.md)."""
