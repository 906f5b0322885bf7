"""Facebook login (LOGIN with `facebook` as 5th field): blynklite asks graph.facebook.com, as upstream.

This machine cannot reach Facebook, so only the failing check is tested, and it is the real one: the
request to graph.facebook.com fails (no network here; with network Facebook refuses the made-up token
with an HTTP error). Upstream answers NOT_ALLOWED and keeps the connection; a failed check is a failed
login for the login guard. The success path (a verified e-mail logs in) cannot be tested here.
"""
from blynklite.client import AppClient
from devices import PASSWORD, new_account

OK, NOT_ALLOWED, QUOTA_LIMIT, LOGIN = 200, 6, 1, 2
# Bound for the answer: app_facebook.GRAPH_TIMEOUT (10 s) plus the time to answer.
FACEBOOK_WAIT = 15.0


def facebook_login(app, email):
    return app.request(LOGIN, f"{email}\0made-up-facebook-token\0Android\0" "2.27.0\0facebook")[2]


def test_a_failed_facebook_check_is_not_allowed_keeps_the_connection_and_counts(make_server):
    server = make_server(login_failure_limit_per_account=2)
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=FACEBOOK_WAIT) as app:
        assert facebook_login(app, email) == NOT_ALLOWED
        assert facebook_login(app, email) == NOT_ALLOWED      # same connection: upstream does not close it
        assert app.login(email, PASSWORD) == QUOTA_LIMIT       # two failed logins block the account
    assert "Facebook check failed" in server.log_text()
    assert "made-up-facebook-token" not in server.log_text()  # the token is never logged
