"""The operator console: live monitor, sessions, translations, templates (docs/console.md)."""
