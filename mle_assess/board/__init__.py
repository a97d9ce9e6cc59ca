"""The recruiters' summary board: a Flask app factory over the storage models.

`create_app(db_url)` gives the board; the webhook receiver (`mle_assess.github.webhook`) is
mounted when a webhook secret is given. The receiver only stores deliveries; with a dispatcher
too, `app.extensions["mle_assess_process_deliveries"](now)` processes them (the board
service's job), ignoring pushes by our App's bot (`bot_login`, from `Gateway.login()`).

Every page and export needs an account; the exceptions are the login page, static files,
`POST /api/results` (bearer token) and the webhook (signature).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFProtect

from mle_assess.board import admin, api, auth, pages
from mle_assess.db import connect
from mle_assess.github.gateway import web_url
from mle_assess.timebox import utc

PUBLIC_ENDPOINTS = {"auth.login", "static", "api.results", "github_webhook.receive"}


def create_app(
    db_url: str,
    *,
    secret_key: str | None = None,
    webhook_secret: str | None = None,
    dispatch=None,  # noqa: ANN001 - queue.Dispatch
    secure_cookies: bool = True,
    github_web: str | None = None,
    bot_login: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    """The board on the database at `db_url` (migrated to the newest schema first). `clock`
    times webhook receipts (default: now, in UTC)."""
    app = Flask(__name__)
    _, sessions = connect(db_url)
    app.config.update(
        SECRET_KEY=secret_key or os.environ.get("MLE_ASSESS_BOARD_SECRET") or secrets.token_hex(32),
        SESSION_COOKIE_SECURE=secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.extensions["mle_assess_sessions"] = sessions
    # Links to repositories and pull requests: github.com, or a GitHub Enterprise Server.
    web = (github_web or web_url()).rstrip("/")
    app.context_processor(lambda: {"github_web": web})
    app.jinja_env.filters["when"] = _when
    app.extensions["mle_assess_throttle"] = auth.Throttle()
    # Starts a candidate's waiting push when a result arrives (`mle_assess.github.queue`).
    app.extensions["mle_assess_dispatch"] = dispatch
    app.after_request(_headers)
    csrf = CSRFProtect(app)
    auth.login_manager.init_app(app)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(api.blueprint)
    csrf.exempt(api.blueprint)  # bearer-token API, no cookies
    if webhook_secret:
        from mle_assess.github.webhook import create_blueprint, process_deliveries

        hook = create_blueprint(
            secret=webhook_secret, sessions=sessions, **({"clock": clock} if clock else {})
        )
        app.register_blueprint(hook)
        csrf.exempt(hook)  # signed by GitHub, no cookies
        if dispatch is not None:
            ignored = (bot_login,) if bot_login else ()

            def process(now: datetime, echo: Callable[[str], None] = print) -> list[str]:
                return process_deliveries(
                    sessions, dispatch, now, ignore_pushers=ignored, echo=echo
                )

            app.extensions["mle_assess_process_deliveries"] = process
    return app


def _headers(response: Response) -> Response:
    """Candidate data is never kept by a browser or a proxy (after sign-out, Back shows the
    sign-in page, not the list from the back/forward cache; static files may be cached), and
    pages load nothing from another origin and cannot be framed."""
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    # Nothing from elsewhere: no script, image, style or frame from another origin.
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _when(moment: datetime | None) -> str:
    """A stored time as UTC to the second (`{{ t|when }}`); both databases hand back UTC."""
    return utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "–"
