"""WebSocket authentication by a one-time ticket: `/ws/chat/lobby/?ticket=<ticket>`.

A client with an access JWT asks `POST /api/ws-ticket/` for a ticket, then connects with it within
WS_TICKET_TTL seconds. The ticket is redeemed exactly once (see realtime.tickets), so a URL that
leaks into a log or a browser history is worthless by the time anyone reads it.
"""

from realtime.handshake import QueryCredentialAuthMiddleware
from realtime.tickets import redeem_ticket


class TicketAuthMiddleware(QueryCredentialAuthMiddleware):
    """Puts the user of a valid, unused `?ticket=` in scope["user"]; refuses everything else."""

    query_param = "ticket"

    async def authenticate(self, credential):
        return await redeem_ticket(credential)
