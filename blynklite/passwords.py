"""The Blynk password hash (spec/app.md §2.3): what apps send instead of the password."""
import base64
import hashlib


def password_hash(password, email):
    """Base64(SHA-256(password ‖ SHA-256(lowercase(email))))."""
    salt = hashlib.sha256(email.lower().encode("utf-8")).digest()
    return base64.b64encode(hashlib.sha256(password.encode("utf-8") + salt).digest()).decode("ascii")
