"""carewatch deployment: the local stack and the files that run carewatch elsewhere."""
