"""The hub's JSON API for tenants (`/api/v1/...`)."""
