"""gRPC services: containerd's API, one package per service.

Each package has the same shape as containerd's ``services/<name>``:

- ``local.py``: the service itself (plugin type ``io.containerd.service.v1``,
  e.g. ``namespaces-service``): validates, calls the stores, publishes events.
- ``service.py``: the gRPC servicer (plugin type ``io.containerd.grpc.v1``, e.g.
  ``namespaces``): converts protobuf to Python and back, nothing else.
- ``plugin.py``: registers both.
"""
