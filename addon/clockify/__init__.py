"""The Clockify contract in plain Python: events, scopes, manifest, tokens, OpenAPI catalog,
and the outbound client. Nothing here imports Flask."""
