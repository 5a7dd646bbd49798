"""OCI runtime specs: containerd's default, and the options that shape it.

- :mod:`.spec`: :func:`default_spec`, :func:`generate_spec`, :func:`dumps` (``config.json``
  text in containerd's field order) and what a spec *is*;
- :mod:`.opts`: the ``with_*`` options (process, mounts, namespaces, cgroups);
- :mod:`.privilege`: devices, capabilities and ``with_privileged``;
- :mod:`.user`: resolving users and groups in the container's own /etc/passwd and /etc/group;
- :mod:`.image`: applying an image's config (Env, Entrypoint/Cmd, WorkingDir, User);
- :mod:`.caps`: capability names and bitmaps.
"""
from __future__ import annotations

from .image import image_process_config, with_image_config
from .opts import (
    replace_or_append_env,
    with_annotations,
    with_cgroup,
    with_cgroup_mount,
    with_cpu_cfs,
    with_cpu_shares,
    with_cpus,
    with_default_path_env,
    with_env,
    with_host_hosts_file,
    with_host_namespace,
    with_host_resolvconf,
    with_hostname,
    with_linux_namespace,
    with_masked_paths,
    with_memory_limit,
    with_mounts,
    with_pids_limit,
    with_process_args,
    with_process_cwd,
    with_readonly_paths,
    with_readonly_rootfs,
    with_rootfs_path,
    with_tty,
    with_tty_size,
    without_mounts,
)
from .privilege import (
    with_added_capabilities,
    with_all_devices_allowed,
    with_capabilities,
    with_default_unix_devices,
    with_dropped_capabilities,
    with_host_devices,
    with_privileged,
)
from .spec import (
    DEFAULT_CAPS,
    OCI_VERSION,
    Spec,
    SpecOpt,
    apply_opts,
    compose,
    default_spec,
    dumps,
    generate_spec,
)
from .user import with_additional_gids, with_uid_gid, with_user, with_user_id, with_username

__all__ = [
    "DEFAULT_CAPS", "OCI_VERSION", "Spec", "SpecOpt", "apply_opts", "compose", "default_spec",
    "dumps", "generate_spec", "image_process_config", "replace_or_append_env",
    "with_added_capabilities", "with_additional_gids", "with_all_devices_allowed",
    "with_annotations", "with_capabilities", "with_cgroup", "with_cgroup_mount", "with_cpu_cfs",
    "with_cpu_shares", "with_cpus", "with_default_path_env", "with_default_unix_devices",
    "with_dropped_capabilities", "with_env", "with_host_devices", "with_host_hosts_file",
    "with_host_namespace", "with_host_resolvconf", "with_hostname", "with_image_config",
    "with_linux_namespace", "with_masked_paths", "with_memory_limit", "with_mounts",
    "with_pids_limit", "with_privileged", "with_process_args", "with_process_cwd",
    "with_readonly_paths", "with_readonly_rootfs", "with_rootfs_path", "with_tty",
    "with_tty_size", "with_uid_gid", "with_user", "with_user_id", "with_username",
    "without_mounts",
]
