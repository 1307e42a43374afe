"""carewatch connectors: each turns one source into ``care.events.v1`` events on Kafka."""
