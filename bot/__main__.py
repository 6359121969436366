"""`python -m bot` runs the newsbot CLI."""

from bot.cli.main import main

# Guarded: a large `newsbot ingest` starts worker processes (bot/core/bulk.py), which import the
# main module afresh and must not run the CLI again.
if __name__ == "__main__":
    main()
