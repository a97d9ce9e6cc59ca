"""The attack suite: submissions that try to cheat or to see what they must not, each graded
by the real grader in full isolation.

Each folder in `tests/attacks/` is one attack, described by its `attack.toml`:
- `description`: what it tries and why it must fail; `base`: "reference" or "template";
- `touches`: the units it may change (every other unit must equal the honest twin's);
- `ran`: steps its logs must show as `MLEA-RAN <step>`, proof that it was really tried;
- `flags`, `unflagged`, `fail`: flags it must get, texts no flag may hold, checks that must fail;
- `config` ("fast" for what may hang), `runner` ("cli" to grade through `mle-assess grade`);
- `[[link]]`, `[[pickle]]`, `[[blob]]`, `remove`: symbolic links, pickles written opcode by
  opcode (nothing is unpickled here), large files, and base files to delete.
Its `files/` are laid over the base. Every name ends in `.in`, so that neither pytest nor ruff
ever picks up candidate code; `NAME.tail.in` is inserted into the base's NAME before its
`if __name__ == "__main__":` block (or at its end). `_shared/mlea_payload.py.in` is copied in as
`mlea_payload.py`. Placeholders such as `@@PORT@@` and `@@REPO@@` are filled in here. The overlay
travels as the fetch job delivers a submission: a tarball like `git archive`'s, symbolic links as
link members, extracted by the system `tar` over a copy of the base sample.

Every attack must show, with a fake token in the grader's environment:
1. a score no higher than its honest twin's (the base sample, graded alone), and the same on
   every unit it does not touch;
2. neither the canary nor the fake token in the output folder, in the grader's own output, or
   at the listeners (which must receive nothing at all), and no file written on the host;
3. grading within a bound computed from the limits, and no process of it left afterwards;
4. results.json valid, its isolation "full", written by the grader alone, and no workflow
   command in the candidate-facing output or the grader's own output.

A control grades two attacks with reduced isolation and sees them leak, which shows that these
assertions can fail. The module ends by printing the figures and writing them to
`test-artifacts/attack-summary.json`.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import check_written

from hidden_tests import CANARY
from mle_assess import PROJECT_ROOT
from mle_assess import grade as grading
from mle_assess.runtime import Runtime
from mle_assess.sandbox import REDUCED, uids
from mle_assess.sandbox.runner import START_SECONDS
from scoring import Config, Limits, load_config

ATTACKS_DIR = Path(__file__).resolve().parent / "attacks"
SHARED_PAYLOAD = ATTACKS_DIR / "_shared" / "mlea_payload.py.in"
SUMMARY = PROJECT_ROOT / "test-artifacts" / "attack-summary.json"
MLE_ASSESS = Path(sys.executable).parent / "mle-assess"
UNITS = (
    "module1",
    "module2",
    "module3.level1",
    "module3.level2",
    "module4.level1",
    "module4.level2",
)
OUT_FILES = {"results.json", "report.md", "logs/module3.log", "logs/module4.log"}
TOKEN_VARIABLES = (
    "GITHUB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "MLE_ASSESS_BOARD_TOKEN",
)
# Per session, so that nothing from an earlier run can match.
TOKEN = f"ghs_FAKE-TOKEN-{secrets.token_hex(12)}"
MARKER = f"mlea-attack-{secrets.token_hex(6)}"
SECRETS = {
    "canary": CANARY,
    "canary digits": CANARY.rsplit("-", 1)[1],
    "fake token": TOKEN,
    "fake token digits": TOKEN.rsplit("-", 1)[1],
}
# Grading beyond the children's own budgets: drawing inputs, the oracle, the report, and
# tearing down each sandbox (cgroups are waited on for up to 2 s each).
SLACK_SECONDS = 20
# How long past its bound a grading is waited for before the test gives up on it.
HANG_GRACE_SECONDS = 30
TAR_MTIME = 1_700_000_000
PLACEHOLDER = re.compile(r"@@([A-Z0-9_]+)@@")


# --- the attacks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """One folder of tests/attacks/, read from its attack.toml."""

    name: str
    folder: Path
    description: str
    base: str
    touches: frozenset[str]
    config: str
    runner: str
    payload: bool
    ran: tuple[str, ...]
    fail: tuple[str, ...]
    flags: tuple[tuple[str, str], ...]
    unflagged: tuple[str, ...]
    links: tuple[dict, ...]
    pickles: tuple[dict, ...]
    blobs: tuple[dict, ...]
    remove: tuple[str, ...]


def load_attack(folder: Path) -> Attack:
    spec = tomllib.loads((folder / "attack.toml").read_text(encoding="utf-8"))
    attack = Attack(
        name=folder.name,
        folder=folder,
        description=" ".join(spec["description"].split()),
        base=spec["base"],
        touches=frozenset(spec.get("touches", [])),
        config=spec.get("config", "default"),
        runner=spec.get("runner", "api"),
        payload=spec.get("payload", False),
        ran=tuple(spec.get("ran", [])),
        fail=tuple(spec.get("fail", [])),
        flags=tuple((kind, text) for kind, text in spec.get("flags", [])),
        unflagged=tuple(spec.get("unflagged", [])),
        links=tuple(spec.get("link", [])),
        pickles=tuple(spec.get("pickle", [])),
        blobs=tuple(spec.get("blob", [])),
        remove=tuple(spec.get("remove", [])),
    )
    assert attack.base in ("reference", "template"), attack.name
    assert attack.touches <= set(UNITS), attack.name
    assert attack.config in ("default", "fast") and attack.runner in ("api", "cli"), attack.name
    return attack


ATTACKS = {
    folder.name: load_attack(folder)
    for folder in sorted(ATTACKS_DIR.iterdir())
    if (folder / "attack.toml").is_file()
}


def fill(text: str, values: dict[str, str]) -> str:
    """Replace every @@NAME@@; an unknown name is an error in the attack."""

    def value(match: re.Match) -> str:
        if match.group(1) not in values:
            raise KeyError(f"unknown placeholder {match.group(0)}")
        return values[match.group(1)]

    return PLACEHOLDER.sub(value, text)


def reduce_pickle(call: str, args: list) -> bytes:
    """A protocol 2 pickle that calls `module:name(*args)` when loaded, written opcode by
    opcode so that nothing is ever unpickled (or run) in this process."""
    module, name = call.split(":")
    data = bytearray(b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"(")
    for arg in args:
        if isinstance(arg, bool):
            raise TypeError("booleans are not supported")
        if isinstance(arg, int):
            data += b"J" + struct.pack("<i", arg)
        elif isinstance(arg, str):
            encoded = arg.encode("utf-8")
            data += b"X" + struct.pack("<I", len(encoded)) + encoded
        elif arg == {}:
            data += b"}"
        else:
            raise TypeError(f"unsupported pickle argument {arg!r}")
    return bytes(data + b"tR.")


def overlay(attack: Attack, base: Path, values: dict[str, str]) -> dict[str, bytes | str]:
    """Submission path -> content (bytes) or link target (str), as the attack lays them."""
    members: dict[str, bytes | str] = {}
    files = attack.folder / "files"
    for path in sorted(files.rglob("*.in")) if files.is_dir() else []:
        relative = path.relative_to(files).as_posix()[: -len(".in")]
        text = fill(path.read_text(encoding="utf-8"), values)
        if relative.endswith(".tail"):
            relative = relative[: -len(".tail")]
            text = insert_tail((base / relative).read_text(encoding="utf-8"), text)
        members[relative] = text.encode("utf-8")
    if attack.payload:
        members["mlea_payload.py"] = fill(
            SHARED_PAYLOAD.read_text(encoding="utf-8"), values
        ).encode()
    for spec in attack.pickles:
        if "source" in spec:
            args = [fill((attack.folder / spec["source"]).read_text(encoding="utf-8"), values), {}]
        else:
            args = [fill(a, values) if isinstance(a, str) else a for a in spec.get("args", [])]
        members[spec["path"]] = reduce_pickle(spec["call"], args)
    for spec in attack.blobs:
        members[spec["path"]] = b"\0" * (spec["kb"] * 1024)
    for spec in attack.links:
        members[spec["name"]] = fill(spec["target"], values)
    return members


def insert_tail(text: str, tail: str) -> str:
    guard = '\nif __name__ == "__main__":'
    at = text.rfind(guard)
    if at < 0:
        return text.rstrip("\n") + "\n" + tail
    return text[: at + 1] + tail + "\n\n" + text[at + 1 :]


def git_archive_like(members: dict[str, bytes | str], tarball: Path) -> None:
    """A pax tarball as `git archive` writes it: a global header with the commit, then
    regular files (0644) and symbolic links as link members."""
    commit = {"comment": secrets.token_hex(20)}
    with tarfile.open(tarball, "w", format=tarfile.PAX_FORMAT, pax_headers=commit) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.mtime = TAR_MTIME
            if isinstance(content, str):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, content, 0o777
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))


def build_submission(attack: Attack, base: Path, dest: Path, values: dict[str, str]) -> Path:
    """The base sample with the attack's tarball extracted over it by the system tar."""
    shutil.copytree(base, dest, symlinks=True)
    for relative in attack.remove:
        target = dest / relative
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    tarball = dest.parent / f"{attack.name}.tar"
    git_archive_like(overlay(attack, base, values), tarball)
    subprocess.run(["tar", "-xf", str(tarball), "-C", str(dest)], check=True, capture_output=True)
    return dest


# --- what the attacks could reach: listeners and a watched folder -----------------------------


class Listener:
    """TCP and UDP on 127.0.0.1 (and ::1 when the host has it), a unix socket and an abstract
    unix socket, all outside any sandbox. Everything that reaches them is recorded."""

    def __init__(self, folder: Path) -> None:
        self.events: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self.port = self._pair(socket.AF_INET, "127.0.0.1")
        try:
            self.port6 = self._pair(socket.AF_INET6, "::1")
        except OSError:
            self.port6 = 0
        self.unix_path = str(folder / "listener.sock")
        self.abstract = f"mlea-listener-{secrets.token_hex(6)}"
        for address in (self.unix_path, "\0" + self.abstract):
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(address)
            server.listen(16)
            self._serve(server, f"unix {address!r}")

    def _pair(self, family: int, host: str) -> int:
        """A TCP listener and a UDP socket on the same free port."""
        for _ in range(50):
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((host, port))
            except OSError:
                tcp.close()
                udp.close()
                continue
            tcp.listen(16)
            self._serve(tcp, f"tcp {host}")
            self._serve(udp, f"udp {host}")
            return port
        raise OSError("no port free for both TCP and UDP")

    def _serve(self, sock: socket.socket, kind: str) -> None:
        sock.settimeout(0.2)
        self._sockets.append(sock)
        threading.Thread(target=self._loop, args=(sock, kind), daemon=True).start()

    def _loop(self, sock: socket.socket, kind: str) -> None:
        while not self._closed.is_set():
            try:
                if sock.type == socket.SOCK_DGRAM:
                    data, _ = sock.recvfrom(65536)
                    self._record(kind, data)
                    continue
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            self._record(kind, self._drain(conn))

    @staticmethod
    def _drain(conn: socket.socket) -> bytes:
        data = b""
        conn.settimeout(2)
        with conn, contextlib.suppress(OSError):
            while len(data) < 1 << 20:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data

    def _record(self, kind: str, data: bytes) -> None:
        with self._lock:
            self.events.append((kind, data))

    def since(self, start: int) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.events[start:])

    def close(self) -> None:
        self._closed.set()
        for sock in self._sockets:
            sock.close()


@pytest.fixture(scope="session")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    server = Listener(tmp_path_factory.mktemp("listener"))
    yield server
    server.close()


@pytest.fixture
def fake_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The fake token, in every variable a CI runner or the board could hold one in."""
    for name in TOKEN_VARIABLES:
        monkeypatch.setenv(name, TOKEN)
    return TOKEN


def placeholders(listener: Listener, out: Path, witness: Path, limits: Limits) -> dict[str, str]:
    return {
        "PORT": str(listener.port),
        "PORT6": str(listener.port6),
        "UNIX": listener.unix_path,
        "ABSTRACT": listener.abstract,
        "REPO": str(PROJECT_ROOT),
        "REPO_RELATIVE": str(PROJECT_ROOT).lstrip("/"),
        "ROOT_UP": "../" * 16,
        "OUT": str(out),
        "WITNESS": str(witness),
        "MARKER": MARKER,
        "FIRST_UID": str(uids.FIRST_UID),
        "UID_COUNT": str(uids.UID_COUNT),
        "PROCESSES": str(limits.processes),
        "MEMORY_MB": str(limits.memory_mb),
        "FILE_MB": str(limits.file_size_mb),
    }


# --- what is left afterwards ------------------------------------------------------------------


def leased_elsewhere(uid: int) -> bool:
    """Whether another grading holds `uid` right now (its processes are not ours)."""
    try:
        fd = os.open(uids.LOCK_DIR / str(uid), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def attack_processes() -> list[tuple[int, str]]:
    """Live processes under a sandbox uid no grading holds, or whose command line holds this
    session's marker: (pid, what)."""
    found = []
    sandbox = range(uids.FIRST_UID, uids.FIRST_UID + uids.UID_COUNT)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").split()[:1] in (["Z"], ["X"]):
            continue
        ids = {int(x) for x in fields.get("Uid", "").split()[:2]}
        ours = [uid for uid in ids if uid in sandbox and not leased_elsewhere(uid)]
        if ours or MARKER.encode() in cmdline:
            found.append(
                (int(entry.name), f"uid {sorted(ids)}: {cmdline[:160].decode(errors='replace')}")
            )
    return found


def leftovers(wait: float = 3.0) -> list[tuple[int, str]]:
    """Processes of an attack still alive `wait` seconds after grading; they are then killed
    (and reported), so that one attack's leftovers cannot disturb the next."""
    deadline = time.monotonic() + wait
    while True:
        found = attack_processes()
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for pid, _ in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found


def bound_seconds(limits: Limits) -> float:
    """The longest grading can take when every child uses its whole budget: module 3 runs at
    most one child per level, each up to its start-up wait plus one level's time; module 4
    runs one child with three messages, each with its own budget; the two run side by side."""
    module3 = 2 * (START_SECONDS + limits.level_seconds)
    module4 = START_SECONDS + 3 * max(limits.level_seconds, limits.app_startup_seconds + 5)
    return max(module3, module4) + SLACK_SECONDS


# --- grading ----------------------------------------------------------------------------------


@dataclass
class Graded:
    data: dict
    written: bytes  # results.json as the grader wrote it
    out: Path
    seconds: float
    console: str  # the grader's own standard output and error


class GradingDidNotFinish(Exception):
    """Grading ran past its bound plus a grace period, or the grader itself failed."""


def grade_api(
    submission: Path,
    out: Path,
    *,
    config: Config,
    runtime: Runtime,
    isolation: str,
    capfd: pytest.CaptureFixture,
    bound: float,
) -> Graded:
    """`grade.main` in this process, waited for at most `bound` plus a grace period, so that a
    grading that never ends fails the test instead of hanging the suite."""
    capfd.readouterr()
    done: dict = {}

    def work() -> None:
        try:
            done["results"] = grading.main(
                submission=submission, out=out, config=config, runtime=runtime, isolation=isolation
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            done["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(bound + HANG_GRACE_SECONDS)
    seconds = time.monotonic() - started
    if worker.is_alive():
        raise GradingDidNotFinish(f"grading still running after {seconds:.0f} s")
    if "error" in done:
        raise GradingDidNotFinish(f"the grader raised {done['error']!r}") from done["error"]
    captured = capfd.readouterr()
    results = done["results"]
    written = (json.dumps(results.data, indent=2) + "\n").encode()
    return Graded(results.data, written, out, seconds, captured.out + captured.err)


def grade_cli(
    submission: Path, out: Path, *, config: Config, bound: float, isolation: str
) -> Graded:
    """`mle-assess grade` in a subprocess, as a workflow runs it: the fake token is in the
    environment it starts with, which is what /proc/PID/environ shows."""
    started = time.monotonic()
    argv = [str(MLE_ASSESS), "grade", str(submission), "--out", str(out)]
    argv += ["--isolation", isolation, "--config", str(config.source)]
    try:
        proc = subprocess.run(
            argv, capture_output=True, timeout=bound + HANG_GRACE_SECONDS, env=dict(os.environ)
        )
    except subprocess.TimeoutExpired as exc:
        raise GradingDidNotFinish(f"mle-assess grade still running after {exc.timeout} s") from exc
    seconds = time.monotonic() - started
    console = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    if proc.returncode != 0:
        raise GradingDidNotFinish(f"mle-assess grade exited {proc.returncode}: {console[-2000:]}")
    written = (out / "results.json").read_bytes()
    return Graded(json.loads(written), written, out, seconds, console)


def unit_scores(data: dict) -> dict[str, float]:
    extra = data["extra_data"]
    scores = {unit: extra["modules"][unit]["score"] for unit in ("module1", "module2")}
    scores.update({unit: value["score"] for unit, value in extra["levels"].items()})
    return scores


@pytest.fixture(scope="session")
def configs(fast_config: Config) -> dict[str, Config]:
    return {"default": load_config(), "fast": fast_config}


@pytest.fixture(scope="session")
def twins(
    tmp_path_factory: pytest.TempPathFactory,
    samples: dict[str, Path],
    runtime: Runtime,
    configs: dict[str, Config],
    full_isolation: str,
) -> Callable[[str, str], dict]:
    """The honest twin of an attack: its base sample graded alone, once per session."""
    cache: dict[tuple[str, str], dict] = {}

    def twin(base: str, config: str) -> dict:
        if (base, config) not in cache:
            out = tmp_path_factory.mktemp(f"twin-{base}-{config}")
            results = grading.main(
                submission=samples[base],
                out=out,
                config=configs[config],
                runtime=runtime,
                isolation=full_isolation,
            )
            check_written(out)
            cache[base, config] = results.data
        return cache[base, config]

    return twin


# --- the figures ------------------------------------------------------------------------------


@dataclass
class Outcome:
    attack: str
    seconds: float
    forged: bool
    leaks: list[str]
    network: int
    hang: bool
    leftovers: int
    breaches: list[str]
    grader_failed: bool = False


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[list[Outcome]]:
    """Every attack's outcome; the summary is printed and written when the module ends."""
    outcomes: list[Outcome] = []
    yield outcomes
    figures = {
        "attacks_tried": len(outcomes),
        "forged_scores": sum(o.forged for o in outcomes),
        "canary_leaks": sum(bool(o.leaks) for o in outcomes),
        "network_contacts": sum(o.network for o in outcomes),
        "hangs": sum(o.hang for o in outcomes),
        "leftover_processes": sum(o.leftovers for o in outcomes),
        "breaches_reported_by_attacks": sum(len(o.breaches) for o in outcomes),
        "grader_failures": sum(o.grader_failed for o in outcomes),
        "grading_seconds": round(sum(o.seconds for o in outcomes), 1),
    }
    line = "attack suite: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items())
    SUMMARY.parent.mkdir(exist_ok=True)
    details = [o.__dict__ | {"seconds": round(o.seconds, 2)} for o in outcomes]
    summary = {**figures, "summary": line, "attacks": details}
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n{line}")


# --- checks shared by every attack ------------------------------------------------------------


def command_lines(text: str) -> list[str]:
    """Lines a GitHub runner would read as a workflow command."""
    return [ln for ln in text.splitlines() if ln.lstrip().startswith("::") or "##[" in ln]


def secrets_in(named: dict[str, bytes]) -> list[str]:
    return [
        f"{secret} in {where}"
        for where, data in named.items()
        for secret, value in SECRETS.items()
        if value.encode() in data
    ]


def out_files(out: Path) -> dict[str, bytes]:
    return {
        path.relative_to(out).as_posix(): path.read_bytes()
        for path in sorted(out.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def log_text(out: Path) -> str:
    return "\n".join(
        (out / "logs" / f"{m}.log").read_text(encoding="utf-8", errors="replace")
        for m in ("module3", "module4")
        if (out / "logs" / f"{m}.log").is_file()
    )


# --- the tests --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack(
    name: str,
    tmp_path: Path,
    samples: dict[str, Path],
    runtime: Runtime,
    configs: dict[str, Config],
    full_isolation: str,
    twins: Callable[[str, str], dict],
    listener: Listener,
    fake_token: str,
    capfd: pytest.CaptureFixture,
    tally: list[Outcome],
    request: pytest.FixtureRequest,
) -> None:
    """Grade the attack in full isolation; it must gain nothing, see nothing, leave nothing."""
    attack = ATTACKS[name]
    request.node.add_report_section("call", "attack", f"{name}: {attack.description}")
    config = configs[attack.config]
    twin = twins(attack.base, attack.config)
    out, witness = tmp_path / "out", tmp_path / "witness"
    witness.mkdir()
    values = placeholders(listener, out, witness, config.limits)
    submission = build_submission(attack, samples[attack.base], tmp_path / "submission", values)
    heard_before = len(listener.events)
    bound = bound_seconds(config.limits)

    started = time.monotonic()
    try:
        if attack.runner == "cli":
            graded = grade_cli(
                submission, out, config=config, bound=bound, isolation=full_isolation
            )
        else:
            graded = grade_api(
                submission,
                out,
                config=config,
                runtime=runtime,
                isolation=full_isolation,
                capfd=capfd,
                bound=bound,
            )
    except GradingDidNotFinish as exc:
        seconds = time.monotonic() - started
        left = leftovers()
        tally.append(
            Outcome(
                attack=name,
                seconds=seconds,
                forged=False,
                leaks=[],
                network=0,
                hang=seconds > bound,
                leftovers=len(left),
                breaches=[],
                grader_failed=True,
            )
        )
        pytest.fail(f"{exc} (bound {bound} s; processes left: {left})")
    left = leftovers()
    heard = listener.since(heard_before)
    files = out_files(out)
    logs = log_text(out)
    data, scores, twin_scores = graded.data, unit_scores(graded.data), unit_scores(twin)

    forged_units = [u for u in UNITS if scores[u] > twin_scores[u]]
    changed_units = [u for u in UNITS if u not in attack.touches and scores[u] != twin_scores[u]]
    rewritten = files.get("results.json") != graded.written
    extra_files = sorted(set(files) - OUT_FILES)
    forged = (
        data["extra_data"]["scaled_score"] > twin["extra_data"]["scaled_score"]
        or bool(forged_units)
        or rewritten
        or bool(extra_files)
        or MARKER.encode() in files.get("results.json", b"") + files.get("report.md", b"")
    )
    leaks = secrets_in(
        {f"out/{k}": v for k, v in files.items()}
        | {"the grader's output": graded.console.encode()}
        | {f"listener ({kind})": payload for kind, payload in heard}
    )
    breaches = [ln.strip() for ln in logs.splitlines() if "MLEA-BREACH" in ln]
    breaches += [f"host file written: {p.name}" for p in witness.iterdir()]
    tally.append(
        Outcome(
            attack=name,
            seconds=graded.seconds,
            forged=forged,
            leaks=leaks,
            network=len(heard),
            hang=graded.seconds > bound,
            leftovers=len(left),
            breaches=breaches,
        )
    )

    # 1. no higher than the honest twin, equal where the attack does not reach
    assert not forged_units, f"units above the honest twin's: {forged_units}"
    assert data["extra_data"]["scaled_score"] <= twin["extra_data"]["scaled_score"]
    assert not changed_units, f"units the attack does not touch differ: {changed_units}"
    failed = {t["number"] for t in data["tests"] if t["status"] == "failed"}
    assert set(attack.fail) <= failed, f"must fail: {sorted(set(attack.fail) - failed)}"
    for kind, text in attack.flags:
        assert any(
            f["kind"] == kind and text in f["detail"] for f in data["extra_data"]["flags"]
        ), f"no {kind} flag mentioning {text!r}: {data['extra_data']['flags']}"
    for text in attack.unflagged:
        assert not any(text in f["detail"] for f in data["extra_data"]["flags"]), text
    # 2. nothing secret reached anything the candidate or the network sees
    assert not leaks, leaks
    assert not heard, f"the listeners were reached: {heard[:3]}"
    assert not breaches, breaches  # what the attack reports, and files it left on the host
    # 3. within the bound, nothing left
    assert graded.seconds <= bound, f"grading took {graded.seconds:.1f} s (bound {bound} s)"
    assert not left, f"processes left after grading: {left}"
    # 4. the grader's results, and only them
    check_written(out)
    assert data["extra_data"]["isolation"] == "full"
    assert not extra_files, f"files the grader did not write: {extra_files}"
    assert not rewritten, "results.json changed after the grader wrote it"
    assert not command_lines(data["output"]), command_lines(data["output"])
    assert not command_lines(graded.console), command_lines(graded.console)
    cap = config.limits.log_kb * 1024
    for module in ("module3", "module4"):
        kept = (out / "logs" / f"{module}.log").read_text(encoding="utf-8", errors="replace")
        assert len(kept) <= 2 * cap + 1, f"{module}.log holds {len(kept)} characters"
    # and the attack really ran
    missing = [step for step in attack.ran if f"MLEA-RAN {step}" not in logs]
    assert not missing, f"the attack's steps did not run: {missing}"


@pytest.mark.slow
def test_control_reduced_isolation_lets_the_same_attacks_leak(
    tmp_path: Path,
    samples: dict[str, Path],
    configs: dict[str, Config],
    listener: Listener,
    fake_token: str,
) -> None:
    """CONTROL, not an attack: graded with isolation "reduced" (no namespaces, no sandbox
    users), the reading attack finds the canary and the fake token and the network attack
    reaches the listeners. The assertions that pass in full isolation would fail here, so
    they can see a leak."""
    config = configs["fast"]
    seen = {}
    for name in ("read_hidden", "network_exfil"):
        attack = ATTACKS[name]
        out, witness = tmp_path / f"out-{name}", tmp_path / f"witness-{name}"
        witness.mkdir()
        values = placeholders(listener, out, witness, config.limits)
        sub = build_submission(attack, samples[attack.base], tmp_path / f"sub-{name}", values)
        heard_before = len(listener.events)
        bound = bound_seconds(config.limits)
        graded = grade_cli(sub, out, config=config, bound=bound, isolation=REDUCED)
        leftovers(wait=0.5)
        assert graded.data["extra_data"]["isolation"] == REDUCED
        seen[name] = (log_text(out), listener.since(heard_before))
    walk_log, _ = seen["read_hidden"]
    assert CANARY in walk_log, "the control should have read the canary"
    assert fake_token in walk_log, "the control should have read the fake token"
    _, heard = seen["network_exfil"]
    assert any(MARKER.encode() in payload for _, payload in heard), (
        "the control should have reached the listener"
    )
