"""The claims the test provider tells about its users: e-mail (left out when the user has none) and names."""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


class ClaimsValidator(OAuth2Validator):
    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        claims = {"preferred_username": user.username, "given_name": user.first_name, "family_name": user.last_name}
        if user.email:
            claims.update(email=user.email, email_verified=True)
        return {key: value for key, value in claims.items() if value != ""}
