"""Local infrastructure for Tierline: real Kafka and PostgreSQL, no Docker."""
