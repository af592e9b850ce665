"""Drafts of entries from what an engineer's tools already recorded: commits (`git`) and
calendar events (`ics`). Each draft carries a marker in its description naming what it
came from, so importing again never logs the same commit or meeting twice."""
