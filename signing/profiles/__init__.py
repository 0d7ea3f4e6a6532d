"""Signature profiles: one module per way of carrying a signature (``jws``, ``cms``)."""
