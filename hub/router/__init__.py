"""edoc.submit -> inboxes, edoc.rejected, edoc.events: pure decision, transactional service,
duplicate index, receipts, reprocess tickets.
"""
