"""Leaves any layer may import: prompts, redaction, byte-bound caches, retries, the loop."""
