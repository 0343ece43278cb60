"""A generated population through identity on the document store fake, two instances taking
turns on out-of-order, redelivered messages: the profiles are exactly the people the links
make (pairwise precision and recall 1.0), shared devices belonging to no one."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.identity.profiles import ProfileRepository
from shared.ports.documents import InMemoryDocumentStore
from tests.population import Population, expected, population, precision_recall
from tests.unit.identity.helpers import clusters


def resolve(people: Population, seed: int) -> set[frozenset[str]]:
    store = InMemoryDocumentStore()
    instances = [ProfileRepository(store), ProfileRepository(store)]
    for n, message in enumerate(people.messages(seed)):
        instances[(n * 7 + seed) % 2].record_all(message)
    return clusters(store)


def test_two_thousand_people_resolve_exactly() -> None:
    people = population(2000, seed=11)
    truth = expected(people.links)
    found = resolve(people, seed=3)
    assert precision_recall(found, truth) == (1.0, 1.0)
    assert found == truth
    assert sum(1 for c in truth if any(k.startswith("user_id:") for k in c)) > 1000


def test_the_population_has_what_it_claims() -> None:
    """The generator exercises every case the oracle speaks of."""
    people = population(300, seed=5)
    kinds = {e["type"] for e in people.events}
    assert {"alias", "identify", "page", "screen", "track"} <= kinds
    truth = expected(people.links)
    assert any(k.split(":")[1].startswith("pop-shared") for c in truth for k in c if len(c) == 1)
    assert any(e.get("userId") in ("null", "0", "undefined") for e in people.events)
    assert len(people.messages(1)) > len(people.events) / 8  # several events per message


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(20, 120), st.integers(0, 10_000), st.integers(0, 10_000))
def test_any_population_in_any_order_resolves_exactly(people: int, seed: int, order: int) -> None:
    generated = population(people, seed=seed)
    assert resolve(generated, order) == expected(generated.links)
