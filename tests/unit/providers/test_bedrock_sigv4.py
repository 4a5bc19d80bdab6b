"""SigV4 against AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite, the vectors every SDK
ships: example credentials AKIDEXAMPLE, service "service", us-east-1, 2015-08-30T12:36:00Z)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bifrost_proxy.providers.bedrock import sigv4

CREDS = sigv4.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
STS_TOKEN = ("AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflf"
             "KD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8"
             "Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSI"
             "lTJabIQwj2ICCR/oLxBA==")
NOW = datetime(2015, 8, 30, 12, 36, 0, tzinfo=timezone.utc)
HOST = {"Host": "example.amazonaws.com"}
BASE = "https://example.amazonaws.com"

# name, method, path+query, extra headers, body, signed headers, signature (from the suite's .authz files)
VECTORS = [
    ("get-vanilla", "GET", "/", {}, b"", "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("post-vanilla", "POST", "/", {}, b"", "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", {}, b"", "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ("post-vanilla-query", "POST", "/?Param1=value1", {}, b"", "host;x-amz-date",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    ("get-utf8", "GET", "/ሴ", {}, b"", "host;x-amz-date",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("post-header-value-case", "POST", "/", {"My-Header1": "VALUE1"}, b"", "host;my-header1;x-amz-date",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
    ("get-header-value-trim", "GET", "/", {"My-Header1": " value1", "My-Header2": ' "a   b   c"'},
     b"", "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ("post-x-www-form-urlencoded", "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
     b"Param1=value1", "content-type;host;x-amz-date",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
]


@pytest.mark.parametrize("name,method,target,extra,body,signed,expected", VECTORS, ids=[v[0] for v in VECTORS])
def test_aws_test_suite_vectors(name, method, target, extra, body, signed, expected):
    out = sigv4.sign(method, BASE + target, {**HOST, **extra}, body, CREDS, "us-east-1", "service", NOW,
                     content_sha256_header=False)
    assert out["X-Amz-Date"] == "20150830T123600Z"
    assert out["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={signed}, Signature={expected}")


def test_session_token_is_sent_and_signed_post_sts_header_before():
    creds = sigv4.Credentials(CREDS.access_key, CREDS.secret_key, STS_TOKEN)
    out = sigv4.sign("POST", BASE + "/", HOST, b"", creds, "us-east-1", "service", NOW, content_sha256_header=False)
    assert out["X-Amz-Security-Token"] == STS_TOKEN
    assert out["Authorization"].endswith(
        "SignedHeaders=host;x-amz-date;x-amz-security-token, "
        "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")


def test_get_vanilla_canonical_request_and_its_hash_match_the_suite():
    creq, signed = sigv4.canonical_request("GET", "/", "", {"Host": "example.amazonaws.com",
                                                             "X-Amz-Date": "20150830T123600Z"},
                                           sigv4.sha256_hex(b""))
    assert creq == ("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert signed == "host;x-amz-date"
    assert sigv4.sha256_hex(creq.encode()) == "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"


def test_content_sha256_header_is_signed_and_is_the_body_hash():
    out = sigv4.sign("POST", BASE + "/", HOST, b'{"a":1}', CREDS, "us-west-2", "bedrock", NOW)
    assert out["X-Amz-Content-Sha256"] == sigv4.sha256_hex(b'{"a":1}')
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date," in out["Authorization"]
    assert "/20150830/us-west-2/bedrock/aws4_request" in out["Authorization"]


def test_host_is_taken_from_the_url_when_absent_and_returned():
    out = sigv4.sign("GET", BASE + "/", {}, b"", CREDS, "us-east-1", "service", NOW, content_sha256_header=False)
    assert out["Host"] == "example.amazonaws.com"
    assert out["Authorization"].endswith("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")


def test_the_wire_path_is_encoded_once_more():
    # a %3A on the wire is signed as %253A (botocore's Bedrock requests), a raw ':' as %3A
    assert sigv4.canonical_uri("/model/a.b-v1%3A0/converse") == "/model/a.b-v1%253A0/converse"
    assert sigv4.canonical_uri("/model/a.b-v1:0/converse") == "/model/a.b-v1%3A0/converse"
    assert sigv4.canonical_uri("") == "/"


def test_a_different_time_gives_a_different_signature():
    one = sigv4.sign("GET", BASE + "/", HOST, b"", CREDS, "us-east-1", "service", NOW)
    two = sigv4.sign("GET", BASE + "/", HOST, b"", CREDS, "us-east-1", "service",
                     datetime(2015, 8, 30, 12, 36, 1, tzinfo=timezone.utc))
    assert one["Authorization"] != two["Authorization"]


def test_credentials_never_show_in_a_repr():
    creds = sigv4.Credentials("AKIDSECRETID", "topsecret", "tokentoken")
    assert "topsecret" not in repr(creds) and "tokentoken" not in repr(creds) and "AKIDSECRETID" not in repr(creds)
