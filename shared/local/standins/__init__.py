"""Local stand-ins for the providers' APIs: each checks requests the way the provider documents
its API, independently of our sender's code, and can be told to fail."""
