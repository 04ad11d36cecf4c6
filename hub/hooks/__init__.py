"""Events out: REST-hook subscriptions, the outbox dispatcher, and signed deliveries."""
