"""Print an access token for a deployed stack's API, for curl: signs in to the stack's Cognito user pool with
SRP (the password is proven, never sent), which the template allows its web client (ExplicitAuthFlows).

    TOKEN=$(.venv/bin/python scripts/api_token.py --user you@example.com)     # asks for the password
    curl -H "Authorization: Bearer $TOKEN" ...

The account is one made with the web app's "Sign up". The stack and its region default to those of the last
deploy, as samconfig.toml keeps them. HAPPYPATH_PASSWORD, if set, is used instead of asking (scripts). The
token is valid for an hour. A stack that trusts another OIDC issuer (AuthIssuerUrl) gets its tokens there.
"""

import argparse
import getpass
import os
import sys
from typing import Any

import boto3
from botocore.exceptions import ClientError
from pycognito.aws_srp import AWSSRP
from pycognito.exceptions import ForceChangePasswordException

from web_config import add_stack_arguments, stack_outputs

PASSWORD_VARIABLE = "HAPPYPATH_PASSWORD"  # noqa: S105 (the variable's name)
REFUSED = {"NotAuthorizedException", "UserNotFoundException"}


def access_token(cognito: Any, pool_id: str, client_id: str, user: str, password: str) -> str:
    srp = AWSSRP(username=user, password=password, pool_id=pool_id, client_id=client_id, client=cognito)
    try:
        tokens = srp.authenticate_user()
    except ForceChangePasswordException:
        raise SystemExit(f"{user} must choose a new password first: sign in once in the web app") from None
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in REFUSED:  # Cognito's words say which refusal (wrong password, locked out, disabled)
            message = error.response["Error"].get("Message", "")
            raise SystemExit(f"sign-in refused for {user}: {message or 'wrong email or password'}") from None
        if code == "UserNotConfirmedException":
            raise SystemExit(f"{user} has not confirmed their email yet: finish signing up in the web app") from None
        raise
    return str(tokens["AuthenticationResult"]["AccessToken"])


def main(argv: list[str] | None = None, cloudformation: Any = None, cognito: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stack_arguments(parser)
    parser.add_argument("--user", required=True, help="the account's email")
    args = parser.parse_args(argv)
    outputs = stack_outputs(cloudformation or boto3.client("cloudformation", region_name=args.region), args.stack)
    if "UserPoolId" not in outputs:
        raise SystemExit(
            f"stack {args.stack} trusts {outputs['AuthIssuer']}, not a user pool of its own: get a token there"
        )
    password = os.environ.get(PASSWORD_VARIABLE) or getpass.getpass(f"password for {args.user}: ")
    region = outputs["UserPoolId"].split("_", 1)[0]
    cognito = cognito or boto3.client("cognito-idp", region_name=region)
    print(access_token(cognito, outputs["UserPoolId"], outputs["AuthClientId"], args.user, password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
