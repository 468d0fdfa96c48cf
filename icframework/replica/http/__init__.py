"""The replica's IC HTTP interface (``/api/v2``, ``/api/v3``): a lean ASGI application.

* `validation` — body size and content type, envelope decoding, effective canister
  id rules and read_state path authorisation (pure functions).
* `endpoints` — what each endpoint does with the replica, framework-free.
* `asgi` — `ApiApplication`, the ASGI adapter serving ``/api/`` in front of Django:
  routes, CORS, body checks, and the replica's part on its thread.
* `errors` — `HttpError` and the one mapping of exceptions to HTTP statuses.

Certificates come from `icframework.replica.certification`.
"""

from icframework.replica.http.errors import HttpError, error_status

__all__ = ["HttpError", "error_status"]
