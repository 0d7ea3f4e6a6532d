"""Kafka isolation: principals and ACLs, SCRAM admin requests, provisioning, Strimzi export
(docs/kafka-security.md).
"""
