"""Keep WebSocket credentials out of every log line.

Browsers cannot set headers on a WebSocket, so the credential travels in the query string
(`?token=` or `?ticket=`), and servers log query strings: uvicorn writes the handshake line
(`"WebSocket /ws/chat/x/?token=eyJ..." 403`) on `uvicorn.error` and HTTP requests on
`uvicorn.access`; runserver (daphne) writes HTTP requests on `django.channels.server`. A log is
read by more people, kept longer and copied further than a credential should be, so
`RedactCredentialsFilter`, installed on every handler in `settings.LOGGING`, rewrites the values
of these parameters (realtime.credentials.QUERY_PARAMETER_CREDENTIALS) before any handler
formats the record.

Parameter names are compared after percent-decoding (`?%74oken=` is `token` to the server) and
regardless of case: `?TOKEN=` is refused at the handshake, but its value is still someone's
credential.

The subprotocol mode keeps the token out of URLs, in the `Sec-WebSocket-Protocol` header, which
servers do not log, except uvicorn at `--log-level trace`, which logs whole ASGI scopes: the
filter masks `access_token.<jwt>` wherever it appears too.

Names are not enough: a client may put a token under a name of its own (`?access_token=`,
`?jwt=`), in a path, or in a header that a debug log prints. So the filter also masks, wherever
they appear in a line: the values of the usual credential parameters (SENSITIVE_PARAMETERS),
anything shaped like a JWT (base64url segments joined by dots, the first starting `eyJ`, which is
`{"` encoded), and the values of the `Authorization`, `Proxy-Authorization`, `Cookie` and
`Set-Cookie` headers, as a header line (`Cookie: a=b`), a scope entry
(`(b'cookie', b'a=b')`), a META entry (`'HTTP_COOKIE': 'a=b'`) or a header's name and value
passed as two arguments (the websockets library's debug lines, `"< %s: %s"`). A record's
traceback is redacted too: an exception's text may quote a path or a header.
"""

import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote

from realtime.credentials import BEARER_SUBPROTOCOL_PREFIX, QUERY_PARAMETER_CREDENTIALS

REDACTED = "[redacted]"
WITHHELD = "[log record withheld: its text could not be checked for credentials]"

# Query parameters whose values are credentials: the project's own, and the names other clients
# and libraries give tokens and passwords in URLs.
SENSITIVE_PARAMETERS = frozenset(
    {
        *QUERY_PARAMETER_CREDENTIALS,
        "access_token",
        "access",
        "refresh",
        "refresh_token",
        "id_token",
        "jwt",
        "auth",
        "authorization",
        "password",
        "secret",
        "api_key",
        "apikey",
    }
)

# A query parameter: a name at the start of the text or after `?`, `&`, `;`, whitespace or a quote,
# then `=` and a value that runs to the next `&`, `#`, whitespace or quote.
PARAMETER = re.compile(r"""(?<![^?&;\s'"])([^=?&;#\s'"]+)=([^&#\s'"]+)""")
# A token offered as a bearer subprotocol, and its value.
TOKEN_SUBPROTOCOL = re.compile(
    rf"({re.escape(BEARER_SUBPROTOCOL_PREFIX)})[^,\s'\"]+", re.IGNORECASE
)
# A JWT (JWS or JWE compact form): its header is base64url JSON, so it starts with `eyJ`.
JWT = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"
    r"(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?"
)
# A credential-bearing header and its value: a quoted value (scope, META or JSON entry) to its
# closing quote, an unquoted one (a header line) to the end of the line.
CREDENTIAL_HEADER = re.compile(
    r"""(?<![A-Za-z0-9-])((?:HTTP_)?(?:PROXY[-_])?AUTHORIZATION|(?:HTTP_)?(?:SET[-_])?COOKIE)"""
    r"""((?:['"]\s*[:,]|:)\s*(?:(?-i:b)(?=['"]))?)('[^']*'|"[^"]*"|[^\r\n]*)""",
    re.IGNORECASE,
)
# A credential-bearing header's name on its own, as a log argument before its value.
CREDENTIAL_HEADER_NAME = re.compile(
    r"(?:HTTP_)?(?:PROXY[-_])?AUTHORIZATION|(?:HTTP_)?(?:SET[-_])?COOKIE", re.IGNORECASE
)
# Text without any of these cannot hold a credential: skip the full scan.
MAY_NAME_CREDENTIAL = re.compile(
    r"t(?:oken|icket)|%|eyJ|jwt|access|refresh|passw|secret|auth|cookie|key", re.IGNORECASE
)


def redact(text: str) -> str:
    """`text` with every credential replaced by REDACTED: the values of credential query
    parameters, token subprotocols and credential headers, and every JWT."""
    if not MAY_NAME_CREDENTIAL.search(text):
        return text

    def replace(match: re.Match) -> str:
        if unquote(match[1]).lower() in SENSITIVE_PARAMETERS:
            return f"{match[1]}={REDACTED}"
        return match[0]

    text = TOKEN_SUBPROTOCOL.sub(rf"\1{REDACTED}", PARAMETER.sub(replace, text))
    return CREDENTIAL_HEADER.sub(redact_header_value, JWT.sub(REDACTED, text))


def redact_header_value(match: re.Match) -> str:
    name, separator, value = match.groups()
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{name}{separator}{quote}{REDACTED}{quote}"


def redact_arg(value):
    """A string argument, redacted; another object, as its redacted text if that names a credential.

    Numbers stay numbers (`%d` needs them); an object such as a scope dict, which logs its query
    string as bytes, becomes its redacted `str()` only when there is something to redact.
    """
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)
    redacted = redact(text)
    return value if redacted == text else redacted


class RedactCredentialsFilter(logging.Filter):
    """Rewrite a record's message and arguments without credentials; never drops a record.

    `record.args` keeps its type and length: uvicorn's AccessFormatter unpacks it by position.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self.redact_record(record)
        except Exception:
            # An object whose text cannot be computed cannot be checked: emit a marker instead.
            record.msg, record.args = WITHHELD, ()
        return True

    def redact_record(self, record: logging.LogRecord) -> None:
        message = record.msg if isinstance(record.msg, str) else str(record.msg)
        redacted = redact(message)
        if redacted != message:
            if record.args:
                # The credential sits in the format string itself, where redacting could drop a
                # placeholder: format first, then redact the result.
                record.msg, record.args = redact(record.getMessage()), ()
                return
            record.msg = redacted
        if isinstance(record.args, tuple):
            record.args = redact_args(record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: redact_arg(value) for key, value in record.args.items()}
        if record.exc_info and not record.exc_text:
            traceback = logging.Formatter().formatException(record.exc_info)
            if (redacted := redact(traceback)) != traceback:
                # Formatters print exc_text when it is set instead of formatting exc_info again.
                record.exc_text = redacted
        if record.stack_info:
            record.stack_info = redact(record.stack_info)


def redact_args(args: tuple) -> tuple:
    """Each argument redacted; the argument after a credential header's name is its value."""
    redacted = []
    for position, arg in enumerate(args):
        previous = args[position - 1] if position else None
        if isinstance(previous, str) and CREDENTIAL_HEADER_NAME.fullmatch(previous.strip()):
            redacted.append(REDACTED)
        else:
            redacted.append(redact_arg(arg))
    return tuple(redacted)
