"""Single sign-on with OpenID Connect: who a provider's user is in Tagsight, and what a failed sign-in says.

mozilla-django-oidc runs the authorization-code flow (state, nonce, PKCE, ID-token signature); this module decides
the rest. A provider's user is the Tagsight user with the same e-mail address (case-insensitive), created on first
sign-in when ``TAGSIGHT_OIDC_CREATE_USERS`` allows (the post_save hook gives them a personal workspace, as every
user). Joining a team still takes an invitation or an Owner: signing in never adds anyone to a workspace.
Every failure returns to the login page with a sentence that says what happened, never a 500.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

LOGGER = logging.getLogger(__name__)
USERNAME_MAX = 150  # django.contrib.auth's User.username


# OAuth 2.0 / OpenID Connect error codes a provider sends back (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6).
PROVIDER_ERRORS = {
    "access_denied": "you cancelled, or your account there may not use Tagsight",
    "login_required": "you need to sign in there first",
    "consent_required": "Tagsight needs your consent there first",
    "interaction_required": "it needs you to do something there first",
    "temporarily_unavailable": "it is busy; please try again in a moment",
    "server_error": "it had an error; please try again in a moment",
    "unauthorized_client": "Tagsight is not registered there as it should be; ask your administrator",
    "invalid_scope": "Tagsight asked for scopes it does not offer; ask your administrator",
}


class SignInRefused(Exception):
    """The provider vouched for someone Tagsight still will not sign in; the message is shown to them."""


def provider_name() -> str:
    return str(settings.TAGSIGHT_OIDC_PROVIDER_NAME)


def username_for(claims: dict[str, Any]) -> str:
    """A free username from ``preferred_username`` (else the e-mail address): characters Django's username
    validator refuses become "-", and a name taken (ignoring case) gets "-2", "-3", ..."""
    wanted = str(claims.get("preferred_username") or claims.get("email") or "user")
    base = re.sub(r"[^\w.@+-]+", "-", wanted).strip("-")[: USERNAME_MAX - 6] or "user"
    users = get_user_model().objects
    candidate, n = base, 1
    while users.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _email(claims: dict[str, Any]) -> str:
    """The e-mail claim as Django stores addresses (domain in lower case)."""
    return str(get_user_model().objects.normalize_email(str(claims["email"]).strip()))


def _names(claims: dict[str, Any]) -> dict[str, str]:
    """first_name/last_name from the profile claims that are present (a provider may send only ``name``)."""
    first = claims.get("given_name") or ("" if claims.get("family_name") else claims.get("name"))
    names = {"first_name": first, "last_name": claims.get("family_name")}
    return {field: str(value)[:150] for field, value in names.items() if value}


class Backend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """Matches the provider's user to a Tagsight user by e-mail address, creating one when allowed."""

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        if not str(claims.get("email") or "").strip():
            raise SignInRefused(
                f"{provider_name()} did not tell Tagsight your e-mail address, which Tagsight needs to know who you "
                "are. Ask your administrator to release the e-mail claim to Tagsight (the 'email' scope)."
            )
        # Only an address the provider says is unverified is refused: Entra ID sends no email_verified at all.
        if claims.get("email_verified") is False:
            raise SignInRefused(
                f"{provider_name()} has not verified your e-mail address {claims['email']}: verify it there first."
            )
        return True

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[Any]:
        return self.UserModel.objects.filter(email__iexact=_email(claims))  # type: ignore[no-any-return]

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        return self.user_for_claims(self.get_userinfo(access_token, id_token, payload))

    def user_for_claims(self, claims: dict[str, Any]) -> Any:
        """The Tagsight user the provider's claims describe: the library's ``get_or_create_user`` after the
        userinfo request, with a sentence for each refusal instead of a silent ``None``."""
        self.verify_claims(claims)
        email = _email(claims)
        users = list(self.filter_users_by_claims(claims)[:2])
        if len(users) > 1:
            raise SignInRefused(
                f"Several Tagsight accounts use the e-mail address {email}, so Tagsight cannot tell which one is "
                "yours. Ask your administrator to give each account its own address."
            )
        if users:
            if not users[0].is_active:
                raise SignInRefused(f"The Tagsight account for {email} is disabled.")
            return self.update_user(users[0], claims)
        if not self.get_settings("OIDC_CREATE_USER", True):
            raise SignInRefused(
                f"No Tagsight account uses the e-mail address {email}. Ask a workspace Owner to invite you."
            )
        return self.create_user(claims)

    def create_user(self, claims: dict[str, Any]) -> Any:
        """A new user with no password (they sign in through the provider); post_save adds their workspace."""
        for _attempt in range(3):  # another sign-in may take the same username between the check and the insert
            try:
                with transaction.atomic():
                    user = self.UserModel.objects.create_user(
                        username_for(claims), email=_email(claims), **_names(claims)
                    )
            except IntegrityError:
                continue
            LOGGER.info("single sign-on created user %s for %s", user.username, user.email)
            return user
        raise SignInRefused("Tagsight could not create your account just now; please try again.")

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        """Keeps the e-mail address and names as the provider has them now."""
        wanted = {"email": _email(claims), **_names(claims)}
        changed = [field for field, value in wanted.items() if getattr(user, field) != value]
        if changed:
            for field in changed:
                setattr(user, field, wanted[field])
            user.save(update_fields=changed)
        return user


class CallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]
    """The provider sends the browser back here; a failure of any kind lands on the login page with a message."""

    request: HttpRequest

    def get(self, request: HttpRequest) -> HttpResponse:
        name = provider_name()
        try:
            return super().get(request)  # type: ignore[no-any-return]
        except SignInRefused as exc:
            return self._refuse(str(exc))
        except requests.HTTPError as exc:  # the token endpoint refused the client (bad secret, wrong client id)
            LOGGER.warning("single sign-on: %s refused the token request: %s", name, exc)
            return self._refuse(
                f"{name} refused Tagsight's sign-in request. Ask your administrator to check Tagsight's single "
                "sign-on client ID and secret."
            )
        except requests.RequestException as exc:
            LOGGER.warning("single sign-on: %s could not be reached: %s", name, exc)
            return self._refuse(f"Tagsight could not reach {name}. Please try again in a moment.")
        except (SuspiciousOperation, jwt.PyJWTError) as exc:  # unknown state, nonce or signature mismatch
            LOGGER.warning("single sign-on: the answer from %s did not check out: %s", name, exc)
            return self._refuse(
                f"Sign-in with {name} could not be verified: it may have expired or been started in another "
                "window. Please try again."
            )

    def login_failure(self) -> HttpResponse:
        """The library's failures: the provider sent an error (the user cancelled, access denied), or the callback
        came without a sign-in started in this browser."""
        error = self.request.GET.get("error")
        if error:
            LOGGER.info("single sign-on: %s answered %s: %s", provider_name(), error,
                        self.request.GET.get("error_description", ""))
            # The description is not shown: anyone can put text into this URL and have it on our login page.
            reason = PROVIDER_ERRORS.get(error, "it answered with an error ({})".format(
                error if re.fullmatch(r"[a-z_]{1,40}", error) else "unknown"))
            return self._refuse(f"{provider_name()} did not sign you in: {reason}.")
        return self._refuse(f"Sign-in with {provider_name()} did not complete. Please try again.")

    def _refuse(self, message: str) -> HttpResponse:
        messages.error(self.request, message)
        login = resolve_url(self.failure_url)
        wanted = self.request.session.get("oidc_login_next")  # checked when the sign-in started
        return HttpResponseRedirect(f"{login}?{urlencode({'next': wanted})}" if wanted else login)
