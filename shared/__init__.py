"""The customer data platform's code: everything the functions, the CLI and the infra import.

The sub-packages follow the data path: ``ingest`` → ``identity`` → ``warehouse`` (and, as they
arrive, ``tiering``, ``destinations``, ``governance``, ``audiences``, ``metrics``). ``ports`` holds
the I/O interfaces with their in-memory fakes, ``adapters`` the Google Cloud implementations,
``local`` the runner that starts the same topology on emulators.
"""
