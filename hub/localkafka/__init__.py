"""A development Kafka broker from Maven Central jars (`edoc local kafka`); no service imports
it.
"""
