"""Shared fixtures. PostgreSQL and Redis are real services on this machine."""
