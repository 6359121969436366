"""`newsbot …`, the operator's command line: the top of the import graph, so nothing imports it back.

`main.py` holds the root app and the archive commands; `discord.py`, `slack.py` and `deliveries.py`
the command groups; `demo.py` the terminal chat; `common.py` what they share (settings from --config).
"""
