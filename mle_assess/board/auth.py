"""Board accounts: recruiters, reviewers and admins (candidates never get one).

Passwords are hashed with Argon2 (argon2-cffi); sessions are Flask-Login's, in cookies marked
Secure, HttpOnly and SameSite=Lax; every form carries a CSRF token (Flask-WTF); failed logins
are limited per user name and per address.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
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


class Throttle:
    """Failed attempts per key within a sliding window (kept in this process)."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = Lock()

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                failures = self._failures[key]
                while failures and now - failures[0] > WINDOW_SECONDS:
                    failures.popleft()
                if len(failures) >= MAX_FAILURES:
                    return True
        return False

    def fail(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures[key].append(time.monotonic())


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
            user = session.scalar(select(User).where(User.username == username))
            if check_password(user, password):
                login_user(Account(user))
                target = request.args.get("next", "")
                if not target.startswith("/") or urlsplit(target).netloc or target.startswith("//"):
                    target = url_for("pages.candidates")
                return redirect(target)
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
