"""Hub storage: schema, engines, migrations and the storage interface."""
