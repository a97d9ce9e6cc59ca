"""Board accounts: recruiters, reviewers and admins (candidates never get one).

Passwords are hashed with Argon2 (argon2-cffi); sessions are Flask-Login's, in cookies marked
Secure, HttpOnly and SameSite=Lax; every form carries a CSRF token (Flask-WTF); failed logins
are limited per user name and per address.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from functools import wraps
from threading import Lock
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from mle_assess.db.models import User
from mle_assess.errors import MleAssessError

ROLES = ("recruiter", "reviewer", "admin")
MAX_FAILURES = 5  # failed logins allowed per user name, and per address, in WINDOW_SECONDS
WINDOW_SECONDS = 15 * 60
_hasher = PasswordHasher()
# A hash to verify against when the user name is unknown, so both cases take as long.
_DUMMY_HASH = _hasher.hash("no such user")

blueprint = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in."


class Account(UserMixin):
    """The signed-in board user."""

    def __init__(self, user: User) -> None:
        self.id = str(user.id)
        self.username = user.username
        self.role = user.role


def hash_password(password: str) -> str:
    if len(password) < 12:
        raise MleAssessError("a password has at least 12 characters")
    return _hasher.hash(password)


def add_user(session: Session, username: str, password: str, role: str) -> User:
    """Create an account (`mle-assess users add`)."""
    if role not in ROLES:
        raise MleAssessError(f"role must be one of {', '.join(ROLES)}")
    if (
        not username
        or len(username) > 100
        or not username.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        raise MleAssessError("a user name is letters, digits, '.', '-' and '_' (at most 100)")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise MleAssessError(f"user {username} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    return user


def check_password(user: User | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and bool(user)
    except (VerificationError, InvalidHashError):
        return False


def _local(target: str) -> str:
    """`target` if it is a path on this board, else the candidate list. Browsers read a
    backslash as a slash and drop tabs and newlines, so a path starting with a slash and a
    backslash, or with a slash, a tab and a slash, would leave the board."""
    if (
        not target.startswith("/")
        or target.startswith("//")
        or any(ch == "\\" or not ch.isprintable() for ch in target)
        or urlsplit(target).netloc
    ):
        return url_for("pages.candidates")
    return target


class Throttle:
    """Failed attempts per key within a sliding window, kept in this process (the board is one
    process with threads). Keys with no recent failure are dropped, so a flood of made-up user
    names cannot grow it without bound."""

    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._lock = Lock()

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                failures = self._failures.get(key)
                if failures is None:
                    continue
                while failures and now - failures[0] > WINDOW_SECONDS:
                    failures.popleft()
                if not failures:
                    del self._failures[key]
                elif len(failures) >= MAX_FAILURES:
                    return True
        return False

    def __len__(self) -> int:
        return len(self._failures)

    def _prune(self, now: float) -> None:
        stale = [k for k, f in self._failures.items() if not f or now - f[-1] > WINDOW_SECONDS]
        for key in stale:
            del self._failures[key]
        # Still too many: forget the oldest, so the newest attempts keep counting.
        if len(self._failures) >= self.MAX_KEYS:
            oldest = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in oldest[: len(oldest) - self.MAX_KEYS // 2]:
                del self._failures[key]

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= self.MAX_KEYS:
                self._prune(now)
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)


def role_required(*roles: str) -> Callable:
    """A view for signed-in users with one of `roles` (any role when none are given)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):  # noqa: ANN202 - a Flask view
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.requires_login = True
        return wrapped

    return decorate


@blueprint.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201 - a Flask view
    if request.method == "POST":
        username = request.form.get("username", "")[:100]
        password = request.form.get("password", "")[:1000]
        keys = (f"user:{username.lower()}", f"addr:{request.remote_addr}")
        throttle: Throttle = current_app.extensions["mle_assess_throttle"]
        if throttle.blocked(*keys):
            return render_template(
                "login.html", error="Too many failed sign-ins; wait a while."
            ), 429
        with current_app.extensions["mle_assess_sessions"]() as session:
            # A user name with NUL is nobody's (and PostgreSQL's text cannot hold it).
            user = (
                session.scalar(select(User).where(User.username == username))
                if "\x00" not in username
                else None
            )
            if check_password(user, password):
                login_user(Account(user))
                return redirect(_local(request.args.get("next", "")))
        throttle.fail(*keys)
        return render_template("login.html", error="Wrong user name or password."), 401
    return render_template("login.html", error=None)


@blueprint.post("/logout")
def logout():  # noqa: ANN201 - a Flask view
    logout_user()
    flash("Signed out.")
    return redirect(url_for("auth.login"))


def load_user(user_id: str) -> Account | None:
    with current_app.extensions["mle_assess_sessions"]() as session:
        user = session.get(User, int(user_id)) if user_id.isdigit() else None
        return Account(user) if user else None


login_manager.user_loader(load_user)
