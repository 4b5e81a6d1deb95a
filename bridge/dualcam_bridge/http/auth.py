"""Who may fetch what: a signed link for that id and variant, or the bearer token.

No credentials at all → 401 (``WWW-Authenticate: Bearer``); credentials that do not fit
(tampered or expired link, a link for another id or variant, a wrong token) → 403. Either
valid credential is enough. The token is compared in constant time; refusals are logged with
the client's address, never with the signature.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from .links import LinkCheck, LinkSigner

log = logging.getLogger(__name__)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class Access:
    """Checks a request's credentials against the bridge's link secret and token."""

    def __init__(self, signer: LinkSigner, token: str | None) -> None:
        self.signer = signer
        self._token = token.encode() if token else None

    def bearer(self, request: web.Request) -> bool | None:
        """True: the right token; False: a wrong one; None: no bearer token presented."""
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        if self._token is None:
            return False
        return hmac.compare_digest(value.strip().encode(), self._token)

    def require_media(self, request: web.Request, media_id: str, variant: str) -> None:
        """Return when allowed; raise 401/403 otherwise."""
        bearer = self.bearer(request)
        if bearer:
            return
        exp, sig = request.query.get("exp"), request.query.get("sig")
        link: LinkCheck | None = None
        if exp is not None or sig is not None:
            link = self.signer.check(media_id, variant, exp, sig)
            if link is LinkCheck.VALID:
                return
        if link is None and bearer is None:
            why = "a signed link or a bearer token is needed"
            raise _refuse(request, web.HTTPUnauthorized, why)
        why = "the link has expired" if link is LinkCheck.EXPIRED else "invalid link or token"
        raise _refuse(request, web.HTTPForbidden, why)

    def require_token(self, request: web.Request) -> None:
        """For ``/metrics`` when a token is configured: the bearer token or 401/403."""
        if self._token is None:
            return
        bearer = self.bearer(request)
        if bearer is None:
            raise _refuse(request, web.HTTPUnauthorized, "a bearer token is needed")
        if not bearer:
            raise _refuse(request, web.HTTPForbidden, "wrong token")


def _refuse(
    request: web.Request, error: type[web.HTTPUnauthorized | web.HTTPForbidden], why: str
) -> web.HTTPException:
    log.info("http %s: %s %s refused: %s", request.remote, request.method, request.path, why)
    headers = _CHALLENGE if error is web.HTTPUnauthorized else None
    return error(text=why + "\n", headers=headers)
