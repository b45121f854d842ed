"""Consumers that run each message's handler straight away on the event loop."""

from channels.consumer import get_handler_name


class LoopDispatchMixin:
    """Channels' AsyncConsumer.dispatch, minus its close_old_connections() before every handler.

    Channels runs that call in a worker thread: a thread hop per message, so per request, per
    frame received and per chat message delivered to each socket. Consumers with this mixin reach
    the database only through database_sync_to_async, which closes stale connections around each
    call itself.
    """

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
