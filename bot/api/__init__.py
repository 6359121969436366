"""The HTTP side of a running bot: summary ingest, health and metrics."""
