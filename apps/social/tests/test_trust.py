"""Trust: endorsements from connections only, recommendations accepted before they show,
and employment attestations in the certified data (verified, and a tampered one refused)."""

from __future__ import annotations

import dataclasses

import pytest

from icframework.sdk import LocalCanister, Reject

from .network import APP, As, connect, fresh, org, records, register

trust = APP.trust


@pytest.fixture
def c() -> LocalCanister:
    return fresh()


@pytest.fixture
def pair(c: LocalCanister) -> tuple[As, As]:
    alice, bob = register(c, "alice"), register(c, "bob")
    alice.set_skills(["Python", "Rust"])
    return alice, bob


def test_only_connections_endorse_listed_skills_once(c: LocalCanister, pair: tuple[As, As]
                                                     ) -> None:
    alice, bob = pair
    with pytest.raises(Reject, match="only connections endorse: connect with @alice first"):
        bob.endorse(alice.who, "Python")
    connect(alice, bob)
    assert bob.endorse(alice.who, "python") == 1
    assert bob.endorse(alice.who, "Python") == 1  # once per endorser and skill
    with pytest.raises(Reject, match="@alice does not list the skill 'Go': endorse one of "
                                     "Python, Rust"):
        bob.endorse(alice.who, "Go")
    with pytest.raises(Reject, match="you cannot endorse yourself"):
        alice.endorse(alice.who, "Python")
    [python, rust] = bob.profile("alice").skills
    assert (python.endorsements, python.endorsed_by_me, rust.endorsements) == (1, True, 0)
    assert [p.handle for p in alice.endorsers(alice.who, "Python")] == ["bob"]
    assert bob.unendorse(alice.who, "Python") == 0


def test_endorsements_go_with_the_connection_and_the_skill(c: LocalCanister,
                                                           pair: tuple[As, As]) -> None:
    alice, bob = pair
    connect(alice, bob)
    bob.endorse(alice.who, "Python")
    bob.endorse(alice.who, "Rust")
    alice.set_skills(["Rust"])
    alice.set_skills(["Rust", "Python"])  # re-added: starts from zero
    assert [s.endorsements for s in alice.me().skills] == [1, 0]
    alice.remove_connection(bob.who)
    assert [s.endorsements for s in alice.me().skills] == [0, 0]
    assert alice.endorsers(alice.who, "Rust") == []


def test_recommendation_shows_only_after_the_subject_accepts(c: LocalCanister,
                                                             pair: tuple[As, As]) -> None:
    alice, bob = pair
    with pytest.raises(Reject, match="ask a connection"):
        alice.request_recommendation(bob.who, "please")
    connect(alice, bob)
    asked = alice.request_recommendation(bob.who, "about our project?")
    assert asked.status == records.RecommendationStatus.requested
    written = bob.write_recommendation(alice.who, "worked together", "Alice ships.")
    assert (written.id, written.status) == (asked.id, records.RecommendationStatus.pending)
    assert bob.recommendations_of(alice.who) == []
    with pytest.raises(Reject, match=f"recommendation {asked.id} is not about you"):
        bob.accept_recommendation(asked.id)
    alice.accept_recommendation(asked.id)
    [shown] = register(c, "carol").recommendations_of(alice.who)
    assert (shown.author.handle, shown.text) == ("bob", "Alice ships.")
    alice.decline_recommendation(asked.id)
    assert bob.recommendations_of(alice.who) == []


def test_recommendations_are_bounded_and_not_for_oneself(c: LocalCanister,
                                                         pair: tuple[As, As]) -> None:
    alice, bob = pair
    connect(alice, bob)
    with pytest.raises(Reject, match="a recommendation is at most 3000 characters"):
        bob.write_recommendation(alice.who, "", "x" * 3001)
    with pytest.raises(Reject, match="a recommendation is required"):
        bob.write_recommendation(alice.who, "", "   ")
    with pytest.raises(Reject, match="you cannot recommend yourself"):
        bob.write_recommendation(bob.who, "", "great")


def certified(c: LocalCanister, who: As, attestation_id: int) -> object:
    return who.certified_attestation(attestation_id)


def test_attestation_is_certified_and_a_tampered_one_is_not(c: LocalCanister,
                                                            pair: tuple[As, As]) -> None:
    alice, bob = pair
    org_id = org(alice, "Acme Corp")
    made = alice.attest_employment(org_id, bob.who, "Staff engineer", "2019-04", "2023-02")
    assert (made.org_name, made.member, made.end) == ("Acme Corp", bob.who, "2023-02")
    proof = bob.certified_attestation(made.id)
    root = c.backend.certified_data
    assert proof.leaf == trust.leaf_hash(made)
    assert trust.verify(proof.attestation, proof.bucket, proof.buckets, root)
    for change in ({"title": "CEO"}, {"end": None}, {"member": alice.who}, {"org_id": 99}):
        forged = dataclasses.replace(proof.attestation, **change)
        assert not trust.verify(forged, proof.bucket, proof.buckets, root)
    assert not trust.verify(proof.attestation, proof.bucket, proof.buckets, bytes(32))
    assert [a.id for a in alice.attestations_of(bob.who)] == [made.id]
    second = alice.attest_employment(org_id, alice.who, "Founder", "2015-01", None)
    assert c.backend.certified_data != root  # every attestation changes the root
    assert trust.verify(second, bob.certified_attestation(second.id).bucket,
                        bob.certified_attestation(second.id).buckets, c.backend.certified_data)
    bob.revoke_attestation(made.id)  # the member removes it
    with pytest.raises(Reject, match=f"no attestation {made.id} \\(it may have been revoked\\)"):
        bob.certified_attestation(made.id)
    assert not trust.verify(proof.attestation, proof.bucket, proof.buckets,
                            c.backend.certified_data)


def test_only_admins_attest_and_revoke(c: LocalCanister, pair: tuple[As, As]) -> None:
    alice, bob = pair
    org_id = org(alice)
    with pytest.raises(Reject, match=r"is not an admin of Acme Corp \(\d+\): ask one of its"):
        bob.attest_employment(org_id, bob.who, "CEO", "2020-01", None)
    made = alice.attest_employment(org_id, bob.who, "Engineer", "2020-01", None)
    carol = register(c, "carol")
    with pytest.raises(Reject, match="is not yours: its member or an admin of Acme Corp"):
        carol.revoke_attestation(made.id)
    with pytest.raises(Reject, match="the role ends \\(2019-01\\) before it starts"):
        alice.attest_employment(org_id, bob.who, "Engineer", "2020-01", "2019-01")
    alice.revoke_attestation(made.id)
    assert bob.attestations_of(bob.who) == []


def test_certified_data_is_set_again_after_an_upgrade(c: LocalCanister,
                                                      pair: tuple[As, As]) -> None:
    alice, bob = pair
    made = alice.attest_employment(org(alice), bob.who, "Engineer", "2020-01", None)
    root = c.backend.certified_data
    c.upgrade(None)
    assert c.backend.certified_data == root
    proof = bob.certified_attestation(made.id)
    assert trust.verify(proof.attestation, proof.bucket, proof.buckets, root)
