"""Certificates: Let's Encrypt (ACME) here; the configured and self-signed ones in blynklite/certs.py."""
