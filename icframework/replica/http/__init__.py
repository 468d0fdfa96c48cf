"""The replica's IC HTTP interface (``/api/v2``, ``/api/v3``) as Django async views.

* `validation` — body size and content type, envelope decoding, effective canister
  id rules and read_state path authorisation (pure functions).
* `endpoints` — what each endpoint does with the replica, framework-free.
* `views` — async Django views adapting HTTP to `endpoints`; `urls` routes them.
* `errors` — `HttpError` and the one mapping of exceptions to HTTP statuses.

Certificates come from `icframework.replica.certification`.
"""

from icframework.replica.http.errors import HttpError, error_status

__all__ = ["HttpError", "error_status"]
