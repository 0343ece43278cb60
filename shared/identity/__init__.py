"""Identity: who is who across devices, in Firestore. Each module says what it may touch:

identifiers.py  which identifiers an event carries, normalised          (pure)
config.py       per-type limits, blocked values, priority               (pure)
rules.py        the merge rule: merge, link, or leave out and record     (pure)
records.py      the profile document and how events and merges change it (pure)
evidence.py     evidence entries, the changes they cause, explanations   (pure)
graph.py        the union-find in the document store: pointers, roots, the instance cache
profiles.py     one transaction per event: resolve, merge or link, update the profile
unmerge.py      removing evidence and recomputing the people it joined
attribution.py  first touch found later by the promotion sweep, put on the profile
handler.py      the Pub/Sub consumer and the operators' get / explain / unmerge
changes.py      the identity-changes contract read by the warehouse and destinations
"""
