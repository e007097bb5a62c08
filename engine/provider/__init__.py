"""Talking to a model provider: the chat client, rate limits and their leases, the caller with its retry policy."""
