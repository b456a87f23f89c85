"""How often the tracker looks at a scheduler command that has not answered yet."""

import pytest

from psij.batch.command_in_flight import MAX_LOOK_INTERVAL, MIN_LOOK_INTERVAL, CommandInFlight
from psij.transport import CommandResult, FinishedCommand


def _in_flight(kind: str) -> CommandInFlight:
    return CommandInFlight(kind, FinishedCommand(CommandResult(['scancel'], 0, '', '')), [], [],
                           next_look_at=0.0)


def test_a_status_command_is_looked_at_less_and_less_often() -> None:
    command = _in_flight('status')
    looks = []
    now = 0.0
    for _ in range(8):
        command.look_later(now)
        looks.append(command.next_look_at - now)
        now = command.next_look_at
    assert looks[0] == pytest.approx(MIN_LOOK_INTERVAL)
    assert looks == sorted(looks) and looks[1] > looks[0]
    assert looks[-1] == pytest.approx(MAX_LOOK_INTERVAL)


def test_a_cancel_command_is_looked_at_every_min_interval() -> None:
    # Somebody waits for the jobs of a cancel: its end is noticed within MIN_LOOK_INTERVAL.
    command = _in_flight('cancel')
    now = 0.0
    for _ in range(8):
        command.look_later(now)
        assert command.next_look_at - now == pytest.approx(MIN_LOOK_INTERVAL)
        now = command.next_look_at
