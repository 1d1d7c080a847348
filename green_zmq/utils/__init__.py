"""Green counterparts of :mod:`zmq.utils` modules whose use can wait (``monitor``)."""
