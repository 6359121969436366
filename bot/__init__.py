"""newsbot: structured news summaries as chat digests, topic alerts and slash-command answers."""
