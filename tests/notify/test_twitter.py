"""OAuth 1.0a signing pinned by published test vectors, then send_tweet against a recording HTTP
server that recomputes the signature independently from what arrived."""
import base64
import hashlib
import hmac
import re
import urllib.parse

import pytest

from blynklite.notify.twitter import (TwitterError, TwitterSettings, authorization, base_uri, send_tweet,
                                      signature, signature_base)

from .peers import free_port


# -- published vectors --------------------------------------------------------------------------------
def test_twitter_docs_creating_a_signature_example():
    params = {"status": "Hello Ladies + Gentlemen, a signed OAuth request!", "include_entities": "true",
              "oauth_consumer_key": "xvz1evFS4wEEPTGEFPHBog",
              "oauth_nonce": "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
              "oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": "1318622958",
              "oauth_token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", "oauth_version": "1.0"}
    assert signature("POST", "https://api.twitter.com/1.1/statuses/update.json", params,
                     "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
                     "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE") == "hCtSmYh+iHYCEqBWrE7C7hYmtUk="


def test_rfc5849_section_3_4_1_1_signature_base_string():
    """Repeated names, empty values, '@', spaces and an already-encoded value, sorted and encoded."""
    params = [("b5", "=%3D"), ("a3", "a"), ("c@", ""), ("a2", "r b"),
              ("oauth_consumer_key", "9djdj82h48djs9d2"), ("oauth_token", "kkk9d7dh3k39sjv7"),
              ("oauth_signature_method", "HMAC-SHA1"), ("oauth_timestamp", "137131201"),
              ("oauth_nonce", "7d8f3e4a"), ("c2", ""), ("a3", "2 q")]
    assert signature_base("POST", "http://example.com/request", params) == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q"
        "%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_"
        "key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m"
        "ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk"
        "9d7dh3k39sjv7")


def test_oauth_core_1_0_appendix_a_hmac_sha1_example():
    params = {"file": "vacation.jpg", "size": "original", "oauth_consumer_key": "dpf43f3p2l4k3l03",
              "oauth_token": "nnch734d00sl2jdk", "oauth_signature_method": "HMAC-SHA1",
              "oauth_timestamp": "1191242096", "oauth_nonce": "kllo9940pd9333jh", "oauth_version": "1.0"}
    assert signature("GET", "http://photos.example.net/photos", params, "kd94hf93k423kf44",
                     "pfkkdhi9sl3r4s00") == "tR3+Ty81lMeYAr/Fid0kMTYa/WM="


def test_base_string_uri_rules_of_rfc5849_section_3_4_1_2():
    assert base_uri("HTTP://EXAMPLE.COM:80/r%20v/X?id=123") == "http://example.com/r%20v/X"
    assert base_uri("https://www.example.net:8080/?q=1") == "https://www.example.net:8080/"
    assert base_uri("https://api.example.com:443/a") == "https://api.example.com/a"


def test_authorization_header_carries_every_oauth_parameter_sorted():
    settings = TwitterSettings.from_properties({"oauth.consumerKey": "ck", "oauth.consumerSecret": "cs"})
    header = authorization(settings, "tok", "ts", {"status": "hi"}, nonce="n0nce", timestamp=1318622958)
    names = re.findall(r'(\w+)="', header)
    assert header.startswith("OAuth ") and names == sorted(names) == [
        "oauth_consumer_key", "oauth_nonce", "oauth_signature", "oauth_signature_method",
        "oauth_timestamp", "oauth_token", "oauth_version"]


# -- the request on the wire --------------------------------------------------------------------------
def independent_signature(method, url, oauth, body, consumer_secret, token_secret):
    """RFC 5849 §3.4 written out again, from the received header and body."""
    def enc(s):
        return urllib.parse.quote(s, safe="")
    params = [(k, v) for k, v in oauth.items() if k != "oauth_signature"]
    params += urllib.parse.parse_qsl(body, keep_blank_values=True)
    normalized = "&".join(f"{k}={v}" for k, v in sorted((enc(k), enc(v)) for k, v in params))
    base = f"{method}&{enc(url)}&{enc(normalized)}"
    key = f"{enc(consumer_secret)}&{enc(token_secret)}"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()


def twitter(recorder):
    return TwitterSettings.from_properties({"oauth.consumerKey": "ck-app", "oauth.consumerSecret": "cs-app secret",
                                            "twitter.url": f"{recorder.url}/1.1/statuses/update.json"})


def test_tweet_is_a_signed_form_post_the_server_can_verify(recorder):
    recorder.reply("/1.1/statuses/update.json", 200, {"id_str": "1", "text": "ok"})
    text = "Temp 21 °C & rising! 100% ok ~ (a+b)/2"
    assert send_tweet(twitter(recorder), "user-token", "user secret", text) == 200
    request = recorder.next()
    assert (request.method, request.path) == ("POST", "/1.1/statuses/update.json")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    body = request.body.decode("ascii")
    assert urllib.parse.parse_qs(body) == {"status": [text]} and "+" not in body
    oauth = {k: urllib.parse.unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', request.headers["Authorization"])}
    assert oauth["oauth_consumer_key"] == "ck-app" and oauth["oauth_token"] == "user-token"
    assert oauth["oauth_signature_method"] == "HMAC-SHA1" and oauth["oauth_version"] == "1.0"
    assert oauth["oauth_signature"] == independent_signature(
        "POST", f"{recorder.url}/1.1/statuses/update.json", oauth, body, "cs-app secret", "user secret")


def test_nonce_changes_between_tweets(recorder):
    settings = twitter(recorder)
    send_tweet(settings, "t", "s", "one")
    send_tweet(settings, "t", "s", "two")
    nonces = {re.search(r'oauth_nonce="([^"]+)"', r.headers["Authorization"]).group(1) for r in recorder.all()}
    assert len(nonces) == 2


def test_refusal_raises_with_twitters_status(recorder):
    recorder.reply("/1.1/statuses/update.json", 403,
                   {"errors": [{"code": 187, "message": "Status is a duplicate."}]})
    with pytest.raises(TwitterError, match="Twitter answered 403 .*Status is a duplicate") as caught:
        send_tweet(twitter(recorder), "t", "s", "again")
    assert caught.value.status == 403


def test_unreachable_twitter_raises_without_status():
    settings = TwitterSettings.from_properties({"oauth.consumerKey": "ck", "oauth.consumerSecret": "cs",
                                                "twitter.url": f"http://127.0.0.1:{free_port()}/update.json"})
    with pytest.raises(TwitterError, match="cannot reach") as caught:
        send_tweet(settings, "t", "s", "hi")
    assert caught.value.status is None


def test_not_configured_without_application_keys():
    settings = TwitterSettings.from_properties({})
    assert not settings.configured and settings.url == "https://api.twitter.com/1.1/statuses/update.json"
    with pytest.raises(TwitterError, match="oauth.consumerKey and oauth.consumerSecret"):
        send_tweet(settings, "t", "s", "hi")
