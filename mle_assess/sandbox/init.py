"""The sandbox's first process: build a private root, then start the child's processes in it.

Usage (by the runner, as root, never by hand):

    unshare --mount --pid --net --ipc --uts --fork --kill-child -- python3 -I -S init.py

It runs as process 1 of a fresh pid namespace, in fresh mount, network, IPC and UTS
namespaces. Its plan comes as one JSON document on standard input (nothing about it shows in
`/proc/1/cmdline`):

    {"root": host folder to build the root in,
     "views": {name: host folder}, shown read-only at /sandbox/NAME,
     "keep": [host paths shown read-only and nosuid at the same path: the grading
              runtime and, when it lies outside SYSTEM_DIRS, its base interpreter's prefix],
     "tmp_mb": size of the private /tmp, "cgroup_procs": [cgroup.procs files to join],
     "passwd": the /etc/passwd lines for the sandbox users, "pivot_root": its path,
     "ready_fd": an inherited pipe, "uids": the sandbox users, whose keyrings are emptied,
     "processes": [{"argv": [...], "cwd": ..., "env": {...}, "channel": bool,
                    "pid_env": name or null}]}

Each process's argv is already wrapped by the runner in `prlimit ... -- setpriv ...`, so it
runs under its own unprivileged uid with no capabilities and `no_new_privs`. The process with
`"channel": true` writes the message channel (this process's standard output); the others
write only to the log (standard error). A later process may be told an earlier one's pid in
the environment variable named by `pid_env`.

When the channel process exits, every process in the namespace is killed and this one exits
with its status. The file descriptor `ready_fd` gets "ready" once the root is built and every
process has started, so the runner can tell a sandbox that failed to start from a child that
failed. Standard library only.
"""

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
DEVICES = ("null", "zero", "full", "random", "urandom")
ETC_FILES = ("ld.so.cache", "nsswitch.conf", "localtime")
# The host's folders of programs and libraries, shown read-only in every sandbox; the runner
# shows anything else a runtime needs (a base interpreter in /opt, say) through "keep".
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
KEYCTL = {"x86_64": 250, "aarch64": 219}  # the keyctl system call's number
KEYCTL_CLEAR, KEYCTL_GET_PERSISTENT = 7, 22
KEY_SPEC_PROCESS, KEY_SPEC_USER, KEY_SPEC_USER_SESSION = -2, -4, -5

_libc = ctypes.CDLL(None, use_errno=True)


def mount(source, target, fstype=None, flags=0, data=None):
    """mount(2); raises OSError with the target named."""
    result = _libc.mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def bind_read_only(source, target, extra=0):
    """Show `source` at `target`, read-only, without set-uid or device files."""
    mount(source, target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | extra)


def loopback_up():
    """Bring up `lo`, the namespace's only interface, with an ioctl (no iproute2 needed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


def mkdirs(root, path, mode=0o755):
    target = os.path.join(root, path.lstrip("/"))
    os.makedirs(target, mode=mode, exist_ok=True)
    return target


def build_root(plan):
    """A tmpfs root holding only the system's programs and libraries, the runtime, the views,
    a fresh /proc, a few devices and a private /tmp; then pivot into it."""
    root = plan["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("sandbox-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for name in SYSTEM_DIRS:
        host = "/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), os.path.join(root, name))
        elif os.path.isdir(host):
            bind_read_only(host, mkdirs(root, host))
    etc = mkdirs(root, "/etc")
    for name in ETC_FILES:
        host = os.path.join("/etc", name)
        if os.path.islink(host):
            os.symlink(os.readlink(host), os.path.join(etc, name))
        elif os.path.isfile(host):
            open(os.path.join(etc, name), "w").close()
            bind_read_only(host, os.path.join(etc, name))
    write(os.path.join(etc, "hosts"), "127.0.0.1 localhost\n::1 localhost\n")
    write(os.path.join(etc, "passwd"), plan["passwd"])
    write(os.path.join(etc, "group"), "root:x:0:\nnogroup:x:65534:\n")
    write(os.path.join(etc, "hostname"), "sandbox\n")
    for path in plan["keep"]:
        bind_read_only(path, mkdirs(root, path))
    for name, host in plan["views"].items():
        bind_read_only(host, mkdirs(root, f"/sandbox/{name}"), MS_NOEXEC)
    dev = mkdirs(root, "/dev")
    mount("sandbox-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name in DEVICES:
        open(os.path.join(dev, name), "w").close()
        mount(f"/dev/{name}", os.path.join(dev, name), None, MS_BIND)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, os.path.join(dev, name))
    size = f"size={int(plan['tmp_mb'])}m,mode=1777"
    mount("sandbox-shm", mkdirs(root, "/dev/shm"), "tmpfs", MS_NOSUID | MS_NODEV, size)
    mount("sandbox-tmp", mkdirs(root, "/tmp"), "tmpfs", MS_NOSUID | MS_NODEV, size)
    proc = mkdirs(root, "/proc")
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    try:  # other users' processes stay invisible: the app cannot even see the probe
        mount("proc", proc, "proc", flags, "hidepid=2")
    except OSError:
        mount("proc", proc, "proc", flags)
    mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(root)
    subprocess.run([plan["pivot_root"], ".", "."], check=True)
    if _libc.umount2(b".", MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), "umount of the old root failed")
    os.chdir("/")


def write(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def clear_keyrings(uids):
    """Empty each sandbox user's kernel keyrings, which outlive processes: what one grading
    stored there must not reach the next grading that leases the same uid."""
    number = KEYCTL.get(os.uname().machine)
    if number is None:
        return
    for uid in uids:
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                persistent = _libc.syscall(number, KEYCTL_GET_PERSISTENT, -1, KEY_SPEC_PROCESS)
                for keyring in (KEY_SPEC_USER, KEY_SPEC_USER_SESSION, persistent):
                    if keyring not in (-1, 0):
                        _libc.syscall(number, KEYCTL_CLEAR, keyring)
                wait_for_collection(uid)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)


def wait_for_collection(uid, seconds=5.0):
    """Cleared keys are freed by the kernel's collector a moment later, and stay visible (by
    description) until then: wait until none of `uid`'s keys but its keyrings remain."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open("/proc/keys", encoding="utf-8", errors="replace") as handle:
                left = [
                    line
                    for line in handle
                    if len(line.split()) > 7
                    and line.split()[5] == str(uid)
                    and line.split()[7] != "keyring"
                ]
        except OSError:
            return
        if not left:
            return
        time.sleep(0.02)


def join_cgroups(paths):
    """Join each cgroup before anything is started, so every later process is counted."""
    for path in paths:
        write(path, "0\n")


def start(processes):
    """Start the processes in order; returns the channel process and all of them."""
    started, channel = [], None
    for spec in processes:
        env = dict(spec["env"])
        if spec.get("pid_env") and started:
            env[spec["pid_env"]] = str(started[-1].pid)
        proc = subprocess.Popen(
            spec["argv"],
            cwd=spec["cwd"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=None if spec["channel"] else sys.stderr,
            stderr=sys.stderr,
        )
        started.append(proc)
        if spec["channel"]:
            channel = proc
    return channel, started


def supervise(channel):
    """Reap every orphan until the channel process ends; then end the whole namespace."""
    status = 1
    while True:
        try:
            pid, raw = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == channel.pid:
            status = os.waitstatus_to_exitcode(raw)
            break
    with contextlib.suppress(ProcessLookupError):  # raised when there was no other process
        os.kill(-1, signal.SIGKILL)  # as process 1: every other process in the namespace
    return status if status >= 0 else 128 - status


def main():
    plan = json.loads(sys.stdin.read())
    fd = os.open("/dev/null", os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    join_cgroups(plan["cgroup_procs"])
    loopback_up()
    socket.sethostname("sandbox")  # the UTS namespace hides the host's name
    build_root(plan)
    clear_keyrings(plan["uids"])
    channel, _ = start(plan["processes"])
    os.write(plan["ready_fd"], b"ready\n")
    os.close(plan["ready_fd"])
    sys.stdout.flush()
    os.close(1)  # only the channel process holds the channel now
    return supervise(channel)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # noqa: BLE001 - reported to the runner through the log
        sys.stderr.write(f"sandbox: could not start: {exc}\n")
        sys.exit(125)
