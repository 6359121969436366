"""`python -m bot` runs the newsbot CLI."""

from bot.cli.main import main

main()
