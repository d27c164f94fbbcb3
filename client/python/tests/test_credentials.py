"""Credentials: the environment, field checks, and the token file read again when it changes."""

import os
import tempfile
import unittest
from unittest import mock

from confcenter_client.credentials import (Credentials, CredentialsError, TokenError,
                                           TokenSource, channel_credentials,
                                           credentials_from_environment)


class CredentialsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def test_from_environment(self):
        env = {"CONFCENTER_CA": "ca.pem", "CONFCENTER_CERT": "c.pem", "CONFCENTER_KEY": "k.pem",
               "CONFCENTER_TOKEN": "t", "CONFCENTER_TOKEN_FILE": "/f"}
        with mock.patch.dict(os.environ, env, clear=True):
            self.assertEqual(credentials_from_environment(),
                             Credentials("ca.pem", "c.pem", "k.pem", "", "t", "/f"))
        with mock.patch.dict(os.environ, {}, clear=True):
            self.assertEqual(credentials_from_environment(), Credentials())

    def test_field_checks(self):
        self.assertIsNone(channel_credentials(Credentials()))
        with self.assertRaisesRegex(CredentialsError, "key_file: required"):
            channel_credentials(Credentials(ca_file="x", cert_file="c"))
        with self.assertRaisesRegex(CredentialsError, "ca_file: required"):
            channel_credentials(Credentials(cert_file="c", key_file="k"))
        with self.assertRaisesRegex(CredentialsError, "ca_file: required"):
            channel_credentials(Credentials(server_name="n"))
        with self.assertRaisesRegex(CredentialsError, "ca_file: cannot read"):
            channel_credentials(Credentials(ca_file=self.path("missing.pem")))
        with open(self.path("junk.pem"), "w") as f:
            f.write("not a certificate")
        with self.assertRaisesRegex(CredentialsError, "no PEM block"):
            channel_credentials(Credentials(ca_file=self.path("junk.pem")))

    def test_token_string_wins_over_file(self):
        source = TokenSource(Credentials(token=" abc \n", token_file=self.path("missing")))
        self.assertEqual(source.metadata(), [("authorization", "Bearer abc")])
        self.assertEqual(TokenSource(Credentials()).metadata(), [])
        self.assertFalse(TokenSource().enabled)

    def test_token_file_read_again_when_it_changes(self):
        token_file = self.path("token")
        source = TokenSource(Credentials(token_file=token_file))
        with self.assertRaisesRegex(TokenError, "cannot read"):
            source.token()
        with open(token_file, "w") as f:
            f.write("")
        with self.assertRaisesRegex(TokenError, "is empty"):
            source.token()
        with open(token_file, "w") as f:
            f.write("first\n")
        self.assertEqual(source.token(), "first")
        # Rotated by rename (as the kubelet does): another inode.
        with open(token_file + ".new", "w") as f:
            f.write("second-token\n")
        os.replace(token_file + ".new", token_file)
        self.assertEqual(source.metadata(), [("authorization", "Bearer second-token")])


if __name__ == "__main__":
    unittest.main()
