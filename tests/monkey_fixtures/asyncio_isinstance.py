"""A plain zmq program asking isinstance() of zmq.asyncio's objects.

In plain pyzmq, zmq.asyncio's Context, Socket and Poller subclass zmq's.
Prints ``name: value`` lines.
"""

import asyncio

import zmq
import zmq.asyncio


async def main() -> None:
    context = zmq.asyncio.Context()
    socket = context.socket(zmq.PAIR)
    poller = zmq.asyncio.Poller()
    print("zmq.asyncio context is a zmq.Context:", isinstance(context, zmq.Context))
    print("zmq.asyncio socket is a zmq.Socket:", isinstance(socket, zmq.Socket))
    print("zmq.asyncio poller is a zmq.Poller:", isinstance(poller, zmq.Poller))
    for name in ("Context", "Socket", "Poller"):
        subclass = issubclass(getattr(zmq.asyncio, name), getattr(zmq, name))
        print(f"zmq.asyncio.{name} subclasses zmq.{name}:", subclass)
    # And the other way round: zmq's objects are not zmq.asyncio's.
    plain = zmq.Context()
    print("zmq context is a zmq.asyncio.Context:", isinstance(plain, zmq.asyncio.Context))
    print(
        "zmq socket is a zmq.asyncio.Socket:",
        isinstance(plain.socket(zmq.PAIR), zmq.asyncio.Socket),
    )
    socket.close()
    context.term()
    plain.destroy()


asyncio.run(main())
