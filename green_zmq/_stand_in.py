"""The metaclass of green classes that stand in for pyzmq's in the zmq namespace.

In plain pyzmq every pyzmq object is an instance of ``zmq.MessageTracker``,
``zmq.Frame``, ``zmq.Context``... (``zmq.asyncio``'s classes subclass them,
and pyzmq makes trackers and frames of its own class). Where a green class
takes such a name, isinstance() and issubclass() against it ask pyzmq's
class instead: from the start for green_zmq's MessageTracker and Frame,
and for Context, Socket and Poller once ``green_zmq.monkey.patch(zmq=True)``
makes them ``zmq.Context``, ``zmq.Socket`` and ``zmq.Poller``. Only the
green class itself does: its subclasses answer as usual, and ``type(x) is
Socket`` checks never get here.

green_zmq tells its own objects by their class's MRO, which this leaves
alone. (An ABC cannot do this: it refuses to register a class's own base.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["StandIn", "stand_in"]

# Green class -> the pyzmq class it stands in for.
_stands_in_for: dict[type, type] = {}


class StandIn(type):
    """Metaclass: isinstance() and issubclass() as the pyzmq class, once standing in."""

    def __instancecheck__(cls, instance: Any) -> bool:
        pyzmq_class = _stands_in_for.get(cls)
        if pyzmq_class is None:
            return type.__instancecheck__(cls, instance)
        return isinstance(instance, pyzmq_class)

    def __subclasscheck__(cls, subclass: type) -> bool:
        pyzmq_class = _stands_in_for.get(cls)
        if pyzmq_class is None:
            return type.__subclasscheck__(cls, subclass)
        return issubclass(subclass, pyzmq_class)


def stand_in(green_class: StandIn, pyzmq_class: type) -> None:
    """From now on, ``green_class`` counts every ``pyzmq_class`` object as an instance."""
    _stands_in_for[green_class] = pyzmq_class
