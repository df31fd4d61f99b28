"""Test kit shipped with the add-on: an RSA signer that mints Clockify-shaped tokens, signed
request helpers, and a fake Clockify API server. Used by the project's tests, by
``flask clockify simulate`` and by the benchmarks; never trusted in production."""
