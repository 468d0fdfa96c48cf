"""The chat app's command-line side: ``manage.py chat`` and the terminal chat it runs."""
