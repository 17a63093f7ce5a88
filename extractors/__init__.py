"""Dialogue → entity and preference subgraphs (LLM-driven or offline)."""
