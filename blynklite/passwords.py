"""The Blynk password hash (spec/app.md §2.3): what apps send instead of the password.

`hashlib` is imported only when a hash is computed (first start, admin sign-in): loading it makes
OpenSSL set up its digests, about 0.7 MB that an idle server never needs, since apps send the hash.
"""
import base64


def password_hash(password, email):
    """Base64(SHA-256(password ‖ SHA-256(lowercase(email))))."""
    import hashlib
    salt = hashlib.sha256(email.lower().encode("utf-8")).digest()
    return base64.b64encode(hashlib.sha256(password.encode("utf-8") + salt).digest()).decode("ascii")


def same_hash(stored, offered):
    """Compare two password hashes in time independent of where they differ."""
    stored, offered = stored.encode("utf-8"), offered.encode("utf-8")
    difference = len(stored) ^ len(offered)
    for a, b in zip(stored, offered.ljust(len(stored), b"\0")):
        difference |= a ^ b
    return difference == 0
