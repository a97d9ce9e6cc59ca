"""Who is calling, and what they may do with a repository.

- Personal tokens act as their user. Org owners are admins of every org repository; others get
  the strongest of their collaborator and team permissions and, for members, the
  organisation's base role; anyone may read a public one.
- Installation tokens act as the App's bot user, on the installation's repositories (narrowed
  to the token's own list) and with the token's permissions.
- An App JWT (RS256, `iss` = app id) only reaches the App endpoints.

Repositories a caller cannot see answer 404, as GitHub hides private repositories; a write
without the permission answers 403."""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass

import jwt

from .model import Account, App, Installation, Repo, State, Token, level
from .routes import ApiError

APP_LEVELS = {"read": 1, "write": 2, "admin": 3}
# An organisation's base role as a repository level (docs "Setting base permissions for an
# organization": members get it on every organisation repository).
BASE_LEVELS = {"none": 0, "read": 1, "write": 3, "admin": 5}
JWT_LEEWAY = 60  # GitHub tolerates a minute of clock drift
JWT_MAX_LIFETIME = 600  # and an `exp` at most ten minutes ahead


@dataclass(frozen=True)
class Identity:
    kind: str  # "user", "installation" or "app"
    account: Account | None = None  # the user, or the App's bot user
    token: Token | None = None
    app: App | None = None

    @property
    def installation(self) -> Installation | None:
        return self.token.installation if self.token else None

    @property
    def label(self) -> str:
        """How the request log names the caller."""
        if self.kind == "app" and self.app:
            return f"app:{self.app.slug}"
        return self.account.login if self.account else "?"


def bad_credentials() -> ApiError:
    return ApiError(401, "Bad credentials")


def identify(state: State, authorization: str | None) -> Identity | None:
    """The caller named by an Authorization header; None when anonymous. Accepts the `token`
    and `Bearer` schemes for tokens (PyGithub sends `token X`), and Basic with the token as
    password (what git sends)."""
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credential).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise bad_credentials() from exc
        credential = decoded.partition(":")[2]
    elif scheme not in ("token", "bearer"):
        raise bad_credentials()
    token = state.tokens.get(credential)
    if token is not None:
        if token.expires_at is not None and token.expires_at < time.time():
            raise bad_credentials()
        kind = "installation" if token.installation else "user"
        return Identity(kind, token.user, token)
    if scheme == "bearer" and credential.count(".") == 2:
        app = verify_jwt(state, credential)
        return Identity("app", app.bot, None, app)
    raise bad_credentials()


def verify_jwt(state: State, raw: str) -> App:
    """An App JWT signed with the App's key, `iat` not in the future and `exp` at most ten
    minutes ahead (both with a minute's leeway), as GitHub checks them."""
    try:
        claims = jwt.decode(raw, options={"verify_signature": False})
        app = state.apps.get(int(claims.get("iss")))
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise ApiError(401, "A JSON web token could not be decoded") from exc
    if app is None:
        raise ApiError(401, "Integration not found")
    try:
        claims = jwt.decode(
            raw,
            app.public_key,
            algorithms=["RS256"],
            leeway=JWT_LEEWAY,
            options={"require": ["iat", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        message = "'Expiration time' claim ('exp') must be a numeric value representing the "
        message += "future time at which the assertion expires"
        raise ApiError(401, message) from exc
    except jwt.ImmatureSignatureError as exc:
        message = "'Issued at' claim ('iat') must be an Integer representing the time that "
        message += "the assertion was issued"
        raise ApiError(401, message) from exc
    except jwt.PyJWTError as exc:
        raise ApiError(401, "A JSON web token could not be decoded") from exc
    if int(claims["exp"]) > time.time() + JWT_MAX_LIFETIME + JWT_LEEWAY:
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
    return app


def installation_repo_ids(state: State, installation: Installation) -> set[int]:
    if installation.repository_selection == "all":
        return {repo.id for repo in state.owned_repos(installation.account)}
    return set(installation.repo_ids)


def token_repo_ids(state: State, token: Token) -> set[int]:
    assert token.installation is not None
    ids = installation_repo_ids(state, token.installation)
    return ids & token.repo_ids if token.repo_ids is not None else ids


def user_level(state: State, account: Account, repo: Repo) -> int:
    """The user's permission on the repository, 0 (none) to 5 (admin)."""
    if repo.owner is account:
        return 5
    login = account.login.lower()
    if repo.owner.type == "Organization" and repo.owner.members.get(login) == "admin":
        return 5
    best = level(repo.collaborators.get(login))
    if repo.owner.type == "Organization" and login in repo.owner.members:
        best = max(best, base_level(repo.owner))
    for team in state.teams_of(repo.owner):
        if login in team.members and repo.id in team.repos:
            best = max(best, level(team.repos[repo.id]))
    if not repo.private:
        best = max(best, 1)
    return best


def base_level(org: Account) -> int:
    """The level every member of the organisation has on its repositories."""
    return BASE_LEVELS.get(org.base_permission, 0)


def is_org_owner(account: Account, repo: Repo) -> bool:
    """An owner of the organisation that owns the repository: admin of it, whatever any
    collaborator setting says."""
    owner = repo.owner
    return owner.type == "Organization" and owner.members.get(account.login.lower()) == "admin"


def can_read(state: State, ident: Identity | None, repo: Repo) -> bool:
    if ident is None:
        return not repo.private
    if ident.kind == "installation":
        assert ident.token is not None
        return repo.id in token_repo_ids(state, ident.token) or not repo.private
    if ident.kind == "app":
        return False
    assert ident.account is not None
    return user_level(state, ident.account, repo) >= 1


def app_permission(ident: Identity, category: str) -> int:
    assert ident.token is not None
    if category == "metadata":
        return APP_LEVELS["read"]
    return APP_LEVELS.get((ident.token.permissions or {}).get(category, ""), 0)


def require(
    state: State,
    ident: Identity | None,
    repo: Repo,
    *,
    role: str = "pull",
    app: tuple[str, str] = ("metadata", "read"),
) -> None:
    """Raise unless the caller may act on the repository: `role` for users, the App permission
    `app` (category, read|write) for installation tokens."""
    if not can_read(state, ident, repo):
        raise ApiError(404, "Not Found")
    if ident is None:
        if role != "pull":
            raise ApiError(401, "Requires authentication")
        return
    if ident.kind == "installation":
        assert ident.token is not None
        in_scope = repo.id in token_repo_ids(state, ident.token)
        if not in_scope and (role != "pull" or app[1] != "read"):
            raise ApiError(403, "Resource not accessible by integration")
        if app_permission(ident, app[0]) < APP_LEVELS[app[1]]:
            raise ApiError(403, "Resource not accessible by integration")
        return
    assert ident.account is not None
    if user_level(state, ident.account, repo) < level(role):
        if role == "admin":
            raise ApiError(403, "Must have admin rights to Repository.")
        raise ApiError(403, "Must have push access to repository.")


def user_required(ident: Identity | None) -> Account:
    """The calling user; installations and Apps are refused, as on `GET /user`."""
    if ident is None:
        raise ApiError(401, "Requires authentication")
    if ident.kind != "user" or ident.account is None:
        raise ApiError(403, "Resource not accessible by integration")
    return ident.account


def can_write_repo(state: State, ident: Identity | None, repo: Repo, category: str) -> bool:
    try:
        require(state, ident, repo, role="push", app=(category, "write"))
    except ApiError:
        return False
    return True
