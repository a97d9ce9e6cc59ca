"""Module 4 probe: wait for the candidate's app to listen, send it the requests, report back.

Usage: python -I module4_child.py SUBMISSION_DIR REQUESTS_JSON PORT STARTUP_S REQUEST_S

The runner starts the app first, as `python3 app.py --port PORT` under a user of its own, and
gives this probe its pid in the environment variable MLE_ASSESS_COMPANION_PID. The probe runs
under another user, so the app can neither trace it nor write its messages. REQUESTS_JSON holds
{"levels": {"1": [request, ...], "2": [...]}}, each request being
{"content_type": str | null, "body": str}. Messages, one per line:

    {"started": true | false, "reason": "listening" | "missing" | "exited" | "no_listen"}
    {"level": N, "responses": [{"status": int, "content_type": str, "body": str}
                               | {"error": "timeout" | "connection"}, ...]}

Standalone: it imports only the standard library.
"""

import http.client
import json
import os
import socket
import sys
import time

MAX_BODY = 65536


def main(argv):
    """Wait for the app's port, then send each level's requests."""
    submission, requests_path, port = argv[1], argv[2], int(argv[3])
    startup, per_request = float(argv[4]), float(argv[5])
    with open(requests_path, encoding="utf-8") as handle:
        levels = json.load(handle)["levels"]
    app = App(os.environ.get("MLE_ASSESS_COMPANION_PID"))
    if not os.path.isfile(os.path.join(submission, "app.py")):
        send({"started": False, "reason": "missing"})
        return
    host, reason = wait_for_port(app, port, startup)
    send({"started": host is not None, "reason": reason})
    if host is None:
        return
    for level in sorted(levels, key=int):
        responses = [ask(host, port, r, per_request) for r in levels[level]]
        send({"level": int(level), "responses": responses})


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class App:
    """The app's process, watched from outside: it may run under another user."""

    def __init__(self, pid):
        self.pid = int(pid) if pid else None

    def poll(self):
        """None while the app runs; a non-None value once it has exited."""
        if self.pid is None:
            return 0
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return 0
        except PermissionError:
            return None  # alive, under another user
        try:
            with open(f"/proc/{self.pid}/stat", encoding="ascii") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
        return 0 if state in ("Z", "X") else None


def wait_for_port(app, port, startup):
    """The first host (127.0.0.1, then ::1) that accepts a connection, or None and why."""
    deadline = time.monotonic() + startup
    while time.monotonic() < deadline:
        for host, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
            try:
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    probe.settimeout(0.2)
                    probe.connect((host, port))
                return host, "listening"
            except OSError:
                pass
        if app.poll() is not None:
            return None, "exited"
        time.sleep(0.05)
    return None, "no_listen"


def ask(host, port, request, timeout):
    """One POST /predict; the answer as plain data."""
    headers = {"Content-Type": request["content_type"]} if request["content_type"] else {}
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", "/predict", body=request["body"].encode("utf-8"), headers=headers)
        response = conn.getresponse()
        body = response.read(MAX_BODY + 1)[:MAX_BODY]
        return {
            "status": response.status,
            "content_type": response.getheader("Content-Type", ""),
            "body": body.decode("utf-8", "replace"),
        }
    except TimeoutError:
        return {"error": "timeout"}
    except (OSError, http.client.HTTPException):
        return {"error": "connection"}
    finally:
        conn.close()


if __name__ == "__main__":
    main(sys.argv)
