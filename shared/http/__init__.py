"""HTTP scaffolding every service's API shares: errors, middleware, auth, health."""
