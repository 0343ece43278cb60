"""The local runtime: the same topology as the cloud, started on the official emulators."""
