"""How a check says that a capability failed or does not apply."""


class CheckFailed(AssertionError):
    """The executor did not honour the capability; the message says how."""


class NotApplicable(Exception):
    """The capability does not apply to this target; the message says why."""


def require(condition: bool, message: str) -> None:
    """Raise `CheckFailed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)
