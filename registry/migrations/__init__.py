"""Alembic migrations of the registry schema (package so that env.py ships with the wheel)."""
