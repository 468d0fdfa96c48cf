"""Organisations and jobs: admins, followers, job search with filters, applications and stages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.sdk import LocalCanister, Reject

from .network import fresh, org, records, register

Workplace, Seniority, Stage = records.Workplace, records.Seniority, records.Stage


def job_input(title: str, workplace: object = Workplace.remote,
              seniority: object = Seniority.senior, skills: list[str] | None = None,
              salary: object = None, description: str = "") -> object:
    return records.JobInput(title, description, "Zurich", workplace, seniority,
                            skills or [], salary)


def query(words: str = "", **filters: object) -> object:
    values = {"org_id": None, "workplace": None, "seniority": None, "skill": None,
              "min_salary": None, "include_closed": False, **filters}
    return records.JobQuery(words, **values)


@pytest.fixture
def c() -> LocalCanister:
    return fresh()


def test_organisation_admins_and_followers(c: LocalCanister) -> None:
    alice, bob = register(c, "alice"), register(c, "bob")
    org_id = org(alice, "Acme Corp")
    assert alice.org(org_id).is_admin and not bob.org(org_id).is_admin
    assert bob.org_by_handle("acme_corp").org.id == org_id
    assert [v.org.id for v in bob.find_orgs("acme", 10)] == [org_id]
    with pytest.raises(Reject, match=r"is not an admin of Acme Corp"):
        bob.update_org(org_id, records.OrgInput("Mine", records.OrgKind.company, "", "", ""))
    with pytest.raises(Reject, match="is the last admin of Acme Corp: add another admin first"):
        alice.remove_org_admin(org_id, alice.who)
    alice.add_org_admin(org_id, bob.who)
    assert {p.handle for p in bob.org_admins_of(org_id)} == {"alice", "bob"}
    bob.follow_org(org_id)
    assert bob.org(org_id).following and bob.org(org_id).org.follower_count == 1
    with pytest.raises(Reject, match="is not a link"):
        alice.create_org(records.OrgInput("X", records.OrgKind.school, "", "javascript:x", ""))


def test_jobs_search_filters_and_closing(c: LocalCanister) -> None:
    alice = register(c, "alice")
    org_id = org(alice, "Acme Corp")
    eur = records.Salary(90_000, 120_000, "eur")
    py = alice.post_job(org_id, job_input("Python developer", skills=["Python"], salary=eur))
    rust = alice.post_job(org_id, job_input("Rust engineer", Workplace.onsite, Seniority.mid,
                                            ["Rust"]))
    assert py.job.salary.currency == "EUR"
    search = alice.search_jobs
    assert [v.job.id for v in search(query("acme"), None, 10).jobs] == [rust.job.id, py.job.id]
    assert [v.job.id for v in search(query("python"), None, 10).jobs] == [py.job.id]
    assert [v.job.id for v in search(query(workplace=Workplace.onsite), None, 10).jobs] == [
        rust.job.id]
    assert [v.job.id for v in search(query(skill="rust"), None, 10).jobs] == [rust.job.id]
    assert [v.job.id for v in search(query(min_salary=100_000), None, 10).jobs] == [py.job.id]
    page = search(query(), None, 1)
    assert [v.job.id for v in page.jobs] == [rust.job.id]
    assert [v.job.id for v in search(query(), page.next, 1).jobs] == [py.job.id]
    alice.set_job_open(rust.job.id, False)
    assert [v.job.id for v in search(query("rust"), None, 10).jobs] == []
    assert [v.job.id for v in search(query("rust", include_closed=True), None, 10).jobs] == [
        rust.job.id]
    assert alice.org(org_id).org.open_jobs == 1
    with pytest.raises(Reject, match=r"the salary range is upside down \(5 > 1\)"):
        alice.post_job(org_id, job_input("X", salary=records.Salary(5, 1, "EUR")))
    with pytest.raises(Reject, match="a job title is at most 120 characters"):
        alice.post_job(org_id, job_input("x" * 121))


def test_application_stages_are_seen_by_the_applicant(c: LocalCanister) -> None:
    alice, bob, carol = register(c, "alice"), register(c, "bob"), register(c, "carol")
    posted = alice.post_job(org(alice), job_input("Python developer"))
    app = bob.apply(posted.job.id, "I love Python")
    with pytest.raises(Reject, match=f"you already applied to job {posted.job.id}"):
        bob.apply(posted.job.id, "again")
    with pytest.raises(Reject, match="is not an admin of"):
        carol.applicants(posted.job.id, None)
    with pytest.raises(Reject, match="is not an admin of"):
        bob.set_stage(app.id, Stage.offer)
    assert [a.applicant.handle for a in alice.applicants(posted.job.id, None)] == ["bob"]
    alice.set_stage(app.id, Stage.interview)
    assert [(a.job_title, a.stage) for a in bob.my_applications()] == [
        ("Python developer", Stage.interview)]
    assert alice.applicants(posted.job.id, Stage.applied) == []
    with pytest.raises(Reject, match=f"application {app.id} is not yours"):
        carol.withdraw_application(app.id)
    bob.withdraw_application(app.id)
    with pytest.raises(Reject, match="was withdrawn by the applicant"):
        alice.set_stage(app.id, Stage.offer)
    alice.set_job_open(posted.job.id, False)
    with pytest.raises(Reject, match="is closed: it takes no more applications"):
        carol.apply(posted.job.id, "")


WORDS = ["python", "rust", "data", "remote", "lead"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
                          st.sampled_from(list(Workplace)), st.booleans()),
                min_size=1, max_size=8),
       st.lists(st.sampled_from(WORDS), max_size=2), st.none() | st.sampled_from(list(Workplace)))
def test_job_search_equals_a_brute_force_oracle(
        jobs: list[tuple[list[str], object, bool]], words: list[str], workplace: object) -> None:
    c = fresh()
    alice = register(c, "alice")
    org_id = org(alice, "Initech")
    posted = []
    for title_words, where, is_open in jobs:
        view = alice.post_job(org_id, job_input(" ".join(title_words), where))
        if not is_open:
            alice.set_job_open(view.job.id, False)
        posted.append((view.job.id, set(title_words), where, is_open))
    expected = [job_id for job_id, title, where, is_open in reversed(posted)
                if is_open and set(words) <= title and workplace in (None, where)]
    got = alice.search_jobs(query(" ".join(words), workplace=workplace), None, 50).jobs
    assert [v.job.id for v in got] == expected
