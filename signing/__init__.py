"""Signature verification, certificate policy, CRLs, signers, demo PKI (no Kafka, no DB)."""
