"""The one exception of the configuration: which file, which key, which line, what is allowed."""

from typing import Optional


class ConfigurationError(ValueError):
    """A configuration file that cannot be used, or a profile that does not exist.

    ``file`` is the path of the file at fault (None when no file is, e.g. an unknown profile
    name), ``key`` the dotted path of the key (None for a file that does not parse), ``line``
    its line (1-based, None when unknown). ``str(error)`` says all of it in one line, with what
    is allowed.
    """

    def __init__(self, message: str, file: Optional[str] = None, key: Optional[str] = None,
                 line: Optional[int] = None) -> None:
        where = ''
        if file is not None:
            where = f'{file}:{line}: ' if line is not None else f'{file}: '
        super().__init__(where + message)
        self.message = message
        self.file = file
        self.key = key
        self.line = line
