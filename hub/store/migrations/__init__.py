"""Alembic migrations for the store; ``SqlStore.open`` runs them programmatically."""
