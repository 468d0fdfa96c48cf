"""An upgrade keeps profiles, pictures, the graph, trust, organisations, jobs and reports."""

from __future__ import annotations

from icframework.sdk import Principal

from .network import MOD, As, connect, fresh, org, records, register

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64


def test_upgrade_keeps_everything() -> None:
    c = fresh()
    alice, bob = register(c, "alice", "Engineer"), register(c, "bob", "Designer")
    connect(alice, bob)
    alice.set_skills(["Python"])
    bob.endorse(alice.who, "Python")
    upload_id = alice.begin_profile_image(records.ImageKind.avatar, "image/png", len(PNG))
    alice.upload_profile_image_chunk(upload_id, 0, PNG)
    avatar = alice.commit_profile_image(upload_id).avatar
    org_id = org(alice)
    job = alice.post_job(org_id, records.JobInput("Python developer", "", "Bern",
                                                  records.Workplace.remote,
                                                  records.Seniority.mid, [], None))
    bob.apply(job.job.id, "hello")
    made = alice.attest_employment(org_id, bob.who, "Engineer", "2020-01", None)
    bob.report("user", alice.who.to_text(), "test")
    query = records.JobQuery("python", None, None, None, None, None, False)

    def snapshot() -> tuple[object, ...]:
        return (alice.me(), bob.profile("alice"), bob.search_people("engineer", None, 10),
                bob.search_jobs(query, None, 10), bob.my_applications(),
                bob.certified_attestation(made.id).bucket, c.backend.certified_data,
                As(c, MOD).report_queue(records.ReportStatus.open, None, 10),
                c.query("http_request", records.HttpRequest("GET", avatar, [], b"")))

    before = snapshot()
    c.upgrade(None)
    assert snapshot() == before
    c.upgrade(records.InitArgs(admins=[Principal.self_authenticating(b"new moderator")]))
    assert not As(c, MOD).is_moderator()
