"""Who may do what: the optional admin token (TAGLOOP_ADMIN_TOKEN).

Without a token everything is open, as on a single-user machine. With one, the actions
that change the served model (retrain, cancel, activate, import) need it; with
TAGLOOP_TOKEN_FOR_ALL as well, so do predictions and corrections.
"""

import hmac

from pydantic import SecretStr

from tagloop.errors import NotAuthorizedError
from tagloop.settings import CommonSettings


def check_bearer(authorization: str | None, token: SecretStr | None) -> None:
    """Raise NotAuthorizedError unless `authorization` is "Bearer <token>" (or no token is set)."""
    if token is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    # compare_digest: the time taken must not tell how much of a guess was right.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.get_secret_value().encode()
    ):
        raise NotAuthorizedError(
            "this action needs the admin token: send it as 'Authorization: Bearer <token>'"
        )


def check_open_action(authorization: str | None, settings: CommonSettings) -> None:
    """Predictions and corrections: open, unless TAGLOOP_TOKEN_FOR_ALL closes them too."""
    if settings.token_for_all:
        check_bearer(authorization, settings.admin_token)
