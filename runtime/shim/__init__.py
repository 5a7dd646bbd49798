"""``containerd-shim-pyrunc-v1``: a runtime-v2 shim in Python (runtime ``io.containerd.pyrunc.v1``).

**What a shim is.** containerd never runs containers itself. For each container (task) it
starts a small helper process, the *shim*, and talks to it over ttrpc with the
``containerd.task.v2.Task`` service (Create, Start, Kill, Wait, Delete, ...). The shim drives
the OCI runtime (runc), holds the container's stdio, collects its exit status and reports
events (``/tasks/start``, ``/tasks/exit``, ...) back to the daemon.

**Why it exists.** The daemon can stop, crash or be upgraded while containers keep running.
The container's parent must stay alive to collect its exit status and keep copying its
output, so that parent is the shim, not the daemon. A restarted containerd finds every shim
again from the ``address`` file in each bundle and reconnects.

**How containerd starts it** (the *start handshake*, :mod:`.start`)::

    cd <bundle>; containerd-shim-pyrunc-v1 -namespace NS -address /run/containerd/containerd.sock \\
        -publish-binary /usr/bin/containerd -id ID start
      1. pick a socket: <dir of -address>/s/<sha256(address/NS/ID)>; listen on it
      2. spawn the long-running shim (new session, the socket as fd 3, stdio -> bundle's log):
         forked by the daemon's fork server, a warm copy with everything imported (:mod:`.forkserver`)
      3. write <bundle>/address, print "unix:///…/s/<hash>" and exit 0
    containerd reads stdout, connects to the address and calls Task/Create.

The name follows containerd's rule: runtime ``io.containerd.pyrunc.v1`` -> binary
``containerd-shim-pyrunc-v1`` on the daemon's ``PATH``. The same binary has a second
one-shot action, ``delete`` (:mod:`.cleanup`): containerd runs it when a shim died, to force-
delete the container and unmount its rootfs.

**The serving process** (:mod:`.serve`) is a *child subreaper*: ``runc create`` forks the
container's first process and exits, and the orphan is re-parented to us, so its exit
status comes to us. One :class:`~pyctrd.runc.Reaper` collects every child's exit (runc's,
the container's, exec'd processes') and :mod:`.service` matches each to its process.

**How stdio flows** (:mod:`.stdio`): the client (``ctr``) makes FIFOs and passes their paths
in CreateTaskRequest; the shim gives the container pipes (or a pty) and copies bytes between
them and the FIFOs, so the container never depends on the client being there.

Modules, in the order a container meets them:

- :mod:`.main` (entry point) and :mod:`.flags` (Go-style command line);
- :mod:`.start` (the start handshake) and :mod:`.cleanup` (the ``delete`` action);
- :mod:`.forkclient` and :mod:`.forkserver` (serving shims forked from a warm copy, not exec'd);
- :mod:`.serve` (the serving process) and :mod:`.service` (the Task service);
- :mod:`.container` (Create: options, rootfs, cgroup);
- :mod:`.process`, :mod:`.init_process`, :mod:`.exec_process` (states, runc, exits);
- :mod:`.stdio` and :mod:`.binary_io` (a process's stdio);
- :mod:`.publisher` (events to the daemon).
"""
