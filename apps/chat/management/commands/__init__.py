"""Management commands of the chat app (found by Django because ``apps.chat`` is installed)."""
