"""Who is asking and what their role allows: one policy for the console, the feature server and the CLI.

:mod:`featurelake.access_control.credentials` identifies a bearer credential (a token whose
SHA-256 is in ``console.identities``, or a JWT checked offline by
:mod:`featurelake.access_control.jwks`) and orders the roles; the console adds browser sessions
and CSRF on top (:mod:`featurelake.console.access`).
"""
