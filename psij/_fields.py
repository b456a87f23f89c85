"""Typed attributes for the public data classes.

`Checked` is a data descriptor: every assignment, in a constructor or later, is checked with
typeguard, so that ``spec.executable = 5`` fails as loudly as ``JobSpec(executable=5)`` and the
message names the class, the field and the allowed type.
"""

from typing import (
    Any,
    Callable,
    Generic,
    Optional,
    Type,
    TypeVar,
    Union,
    get_args,
    get_origin,
    overload,
)

from typeguard import CollectionCheckStrategy, TypeCheckError, check_type

from psij.exceptions import InvalidJobException

G = TypeVar('G')


def describe_type(expected: object) -> str:
    """A short human name for a type annotation (``str | None`` style)."""
    text = getattr(expected, '__name__', None) if isinstance(expected, type) else None
    if text is None:
        text = str(expected).replace('typing.', '').replace('pathlib.', '')
        text = text.replace('NoneType', 'None')
    return text


def admits_bool(expected: object) -> bool:
    """True if ``expected`` names ``bool`` itself, not just ``int`` (bool is a subclass of int)."""
    if expected is bool or expected is object or expected is Any:
        return True
    if get_origin(expected) is Union:
        return any(admits_bool(arg) for arg in get_args(expected))
    return False


class Checked(Generic[G]):
    """A public attribute whose assignments are type checked.

    ``accepts`` is the type annotation a caller may assign; ``convert`` turns an accepted value
    into the stored one (e.g. ``str`` into ``pathlib.Path``); ``validate`` may raise
    `InvalidJobException` for values of the right type that are still not allowed.
    """

    def __init__(self, accepts: Any, doc: str,
                 convert: Optional[Callable[[Any], G]] = None,
                 validate: Optional[Callable[[str, Any], None]] = None) -> None:
        self.accepts = accepts
        self.convert = convert
        self.validate = validate
        self.bool_allowed = admits_bool(accepts)
        # Values of exactly one of these classes need no deeper check: typeguard costs ~20 µs
        # a call, and specs are built by the thousand.
        self._exact_types = frozenset(
            option for option in (get_args(accepts) or (accepts,))
            if isinstance(option, type) and get_origin(option) is None)
        self.__doc__ = doc
        self.name = '?'
        self.owner_name = '?'

    def __set_name__(self, owner: Type[Any], name: str) -> None:
        self.name = name
        self.owner_name = owner.__name__

    @overload
    def __get__(self, instance: None, owner: Type[Any]) -> 'Checked[G]': ...

    @overload
    def __get__(self, instance: object, owner: Type[Any]) -> G: ...

    def __get__(self, instance: Optional[object], owner: Type[Any]) -> Any:
        if instance is None:
            return self
        return instance.__dict__[self.name]

    def has_accepted_type(self, value: Any) -> bool:
        """True if ``value`` may be assigned; ``True`` is not an ``int`` here."""
        if type(value) in self._exact_types:
            return True
        if isinstance(value, bool) and not self.bool_allowed:
            return False
        try:
            check_type(value, self.accepts,
                       collection_check_strategy=CollectionCheckStrategy.ALL_ITEMS)
        except TypeCheckError:
            return False
        return True

    def __set__(self, instance: object, value: Any) -> None:
        if not self.has_accepted_type(value):
            raise TypeError(
                f'{self.owner_name}.{self.name} must be {describe_type(self.accepts)}, '
                f'not {type(value).__name__} ({value!r})')
        if self.validate is not None:
            self.validate(f'{self.owner_name}.{self.name}', value)
        instance.__dict__[self.name] = self.convert(value) if self.convert else value


def positive_or_none(field: str, value: Optional[int]) -> None:
    """Reject zero and negative counts."""
    if value is not None and value < 1:
        raise InvalidJobException(f'{field} must be a positive integer or None, not {value}')


def non_negative_or_none(field: str, value: Optional[int]) -> None:
    """Reject negative amounts."""
    if value is not None and value < 0:
        raise InvalidJobException(f'{field} must be zero or more, or None, not {value}')

