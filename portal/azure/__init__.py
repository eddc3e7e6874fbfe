"""Azure Custom Vision wire-compatibility plumbing (routes, auth, errors, JSON); no business logic."""
