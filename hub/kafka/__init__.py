"""Kafka client side without business rules: client configuration, topics, the per-record
guard, lag and probes.
"""
