"""The hub: settings, Kafka services (router, …), local broker launcher."""
