"""Persistence: tortoise-orm models, connection set-up and migrations, and every query,
one module per aggregate or concern. Nothing outside this package imports tortoise (an
import-linter contract in pyproject.toml keeps it so)."""
