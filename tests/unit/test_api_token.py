"""scripts/api_token.py signs in to a deployed stack's user pool with SRP and prints an access token for curl."""

import boto3
import jwt
import pytest
from botocore.stub import Stubber
from happypath_testkit.stacks import STACK, described_stack
from moto import mock_aws

import api_token
from happypath_local import TEMPLATE_PATH
from happypath_local.stack import translate

REGION = "eu-west-1"
EMAIL = "ada@example.com"
PASSWORD = "Correct-horse-42"  # a test account's


def stack_of(pool_id: str, client_id: str) -> dict[str, str]:
    return {
        "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com",
        "AuthIssuer": f"https://cognito-idp.eu-west-1.amazonaws.com/{pool_id}",
        "AuthClientId": client_id,
        "FrontendOrigin": "https://d111.cloudfront.net",
        "UserPoolId": pool_id,
    }


def web_client_flows() -> list[str]:
    resources = translate(TEMPLATE_PATH, {})[0]["Resources"]
    return list(resources["UserPoolClient"]["Properties"]["ExplicitAuthFlows"])


def test_the_stack_s_web_client_allows_srp_and_no_flow_that_sends_the_password():
    flows = web_client_flows()
    assert "ALLOW_USER_SRP_AUTH" in flows
    assert not {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"} & set(flows)


def test_a_signed_up_user_gets_an_access_token_of_the_stack_s_pool_on_stdout(monkeypatch, capsys):
    # A mock_aws made here, not a decorator: one made at import would, nested in the session's moto, leave
    # moto's configuration as it was then (state machines not run) for every test after it.
    # moto checks neither the client's auth flows nor the SRP proof: this covers the script's side; the test
    # above holds the template to its flows.
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION)
        pool_id = cognito.create_user_pool(PoolName="happy-path-users", UsernameAttributes=["email"])["UserPool"]["Id"]
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName="web", ExplicitAuthFlows=web_client_flows()
        )["UserPoolClient"]["ClientId"]
        cognito.admin_create_user(UserPoolId=pool_id, Username=EMAIL, MessageAction="SUPPRESS")
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=EMAIL, Password=PASSWORD, Permanent=True)
        monkeypatch.setenv(api_token.PASSWORD_VARIABLE, PASSWORD)
        with described_stack(stack_of(pool_id, client_id), REGION) as cloudformation:
            assert api_token.main(["--stack", STACK, "--user", EMAIL], cloudformation=cloudformation) == 0
        token = capsys.readouterr().out.strip()  # only the token: TOKEN=$(...) takes all of it
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["token_use"] == "access"
        assert claims["client_id"] == client_id
        assert claims["iss"].endswith(pool_id)  # the client was made in the pool's region


@pytest.mark.parametrize(
    ("code", "cognito_says", "says"),
    [
        ("NotAuthorizedException", "Incorrect username or password.", "refused for .*: Incorrect username or pass"),
        ("NotAuthorizedException", "Password attempts exceeded", "refused for .*: Password attempts exceeded"),
        ("NotAuthorizedException", "", "refused for .*: wrong email or password"),
        ("UserNotConfirmedException", "User is not confirmed.", "has not confirmed their email yet"),
    ],
)
def test_a_refused_sign_in_is_said_in_words(code: str, cognito_says: str, says: str):
    cognito = boto3.client("cognito-idp", region_name=REGION)
    with Stubber(cognito) as stub:
        stub.add_client_error("initiate_auth", code, cognito_says)
        with pytest.raises(SystemExit, match=says):
            api_token.access_token(cognito, "eu-west-1_AbC", "5t1clientid", EMAIL, PASSWORD)


def test_a_stack_trusting_another_issuer_sends_you_there():
    outputs = stack_of("unused", "spa")
    del outputs["UserPoolId"]
    outputs["AuthIssuer"] = "https://tenant.eu.auth0.com/"  # and no password asked for
    with (
        described_stack(outputs, REGION) as cloudformation,
        pytest.raises(SystemExit, match=r"trusts https://tenant\.eu\.auth0\.com/.*get a token there"),
    ):
        api_token.main(["--stack", STACK, "--user", EMAIL], cloudformation=cloudformation)
