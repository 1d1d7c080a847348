"""A plain zmq program: a device started the usual way, reached over inproc://.

pyzmq's ThreadDevice makes its sockets in ``Context.instance()``; inproc://
only connects sockets of one context, so the round trip works only if the
program's ``zmq.Context.instance()`` is the device's. Prints ``name: value``
lines: the reply, and which ways of asking for the instance agree.
"""

import zmq
import zmq.devices
import zmq.green

import green_zmq

context = zmq.Context.instance()
device = zmq.devices.ThreadDevice(zmq.QUEUE, zmq.ROUTER, zmq.DEALER)
device.bind_in("inproc://front")
device.bind_out("inproc://back")
device.start()

client = context.socket(zmq.REQ)
worker = context.socket(zmq.REP)
for socket in (client, worker):
    socket.rcvtimeo = 5000
    socket.linger = 0
client.connect("inproc://front")
worker.connect("inproc://back")
client.send(b"ping")
try:
    worker.send(worker.recv() + b"!")
    reply = client.recv()
except zmq.Again:
    reply = None
print("reply:", reply)

asked = {
    "zmq.Context.instance()": zmq.Context.instance,
    "pyzmq's Context.instance()": zmq.sugar.context.Context.instance,
    "the device's context_factory()": device.context_factory,
    "ThreadDevice.context_factory()": zmq.devices.ThreadDevice.context_factory,
    "zmq.green.Context.instance()": zmq.green.Context.instance,
    "green_zmq.Context.instance()": green_zmq.Context.instance,
}
for name, instance in asked.items():
    print(f"{name} is the program's: {instance() is context}")
client.close()
worker.close()
