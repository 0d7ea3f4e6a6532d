"""Coverage against the plan's targets (Decision 166/QĐ-UBND §II.6.d), per agency and period.

``periods`` (YYYY-MM / YYYY-Qn / YYYY), ``facts`` (what one verdict event
contributes), ``ledger`` (the merge rules, in memory — the reference the store
must match), ``compute`` (indicators, roll-up, laggards: pure), ``models``
(the report as served), ``store`` (SQLAlchemy tables), ``query`` (directory
plus store → report), ``service`` (the Kafka consumer). See docs/coverage.md.
"""
