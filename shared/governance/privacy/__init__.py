"""Privacy requests (GDPR/CCPA): delete a person from every store, suppress their future
events at ingest, and prove it.

requests.py      the request types, steps and statuses; the pure planning of steps
people.py        from the identifiers asked for to the whole person, through identity
firestore.py     the person's documents; warehouse.py their rows; deadletters.py their dead
                 letters; providers.py the destinations' deletion APIs
suppression.py   the suppression list (keyed hashes) and ingest's cached check
audit.py         the request's record: every attempt of every step
verify.py        searching every store for anything of the person
service.py       receive, run, resume, report, verify; regulations.py the HTTP form
"""
