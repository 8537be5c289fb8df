"""Domain errors shared by both services; each service maps them to HTTP in one handler."""


class TagloopError(Exception):
    """Base of the errors a person can act on; the message is shown to them as is.

    Each answer carries a stable `code` (tagloop.http.error_code): a subclass's `code`
    attribute, else its class name in snake case without "Error". Renaming an error
    class changes its code, which the UI translates: give it a `code` to keep the old one.
    """

    code: str | None = None


class ModelContractError(TagloopError):
    """A model does not meet the contract: (N,224,224,3) in [0,1] -> (N,20) in [0,1]."""


class VersionNotFoundError(TagloopError):
    """The model store has no such version."""


class NoActiveVersionError(TagloopError):
    """The model store has no active version yet."""


class NotAuthorizedError(TagloopError):
    """The admin token is required for this action and was missing or wrong."""


class RoleRefusedError(TagloopError):
    """Team mode: the user is known, but their role may not do this (403)."""

    code = "admin_only"


class FirstUserByCliError(RoleRefusedError):
    """Single-user mode: the first user (who turns team mode on) is made on the server with
    `tagloop users add`, never through the API (403)."""

    code = "first_user_by_cli"


class DiskFullError(TagloopError):
    """A write was refused for lack of space on the data volume (answered 507); the
    message names the volume and its free space."""

    code = "disk_full"
