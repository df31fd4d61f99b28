"""Use cases: the add-on's main flows as plain functions with explicit inputs and results.

A flow takes what a request brought (the body's bytes, the token, the settings, a caller already
authorized) and returns a small result the web layer turns into JSON; it refuses by raising the
``addon.errors`` family, which the app answers in one place. Flows never touch Flask's request
or ``g`` (a Flask app context gives them the database and Redis), so they are called alike from a
view, a test or a command. Layers: ``web`` → ``flows`` → jobs, store, the Clockify contract.
"""
