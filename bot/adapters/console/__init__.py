"""The console adapter: a local prompt and terminal rendering of replies."""
