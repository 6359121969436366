"""Tests for the platform adapters."""
