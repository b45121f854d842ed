"""`manage.py runserver`: daphne's, which serves config.asgi (WebSockets included) in development.

Provided by this app rather than by listing "daphne" in INSTALLED_APPS, whose app config imports
daphne and Twisted into every process that sets Django up: 0.7 s of CPU of a server's 2.6 s start,
and only runserver uses them. This app comes before django.contrib.staticfiles in INSTALLED_APPS,
so that this command is the runserver manage.py finds.
"""

from daphne.management.commands.runserver import Command

__all__ = ["Command"]
