"""Data access. Every function takes the workspace id it is about, so no code path can read or
write another tenant's rows by accident."""
