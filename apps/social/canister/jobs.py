"""Jobs: organisations post them, people search and apply, admins move applicants through stages.

Search is indexed: every job has postings ``job_index[(term, job id)]`` for its words
(``w:<word>`` of title, description, location, skills and organisation name), its
organisation (``o:<id>``), workplace (``p:``), seniority (``s:``), each skill
(``k:<skill>``) and ``any`` (plus ``open`` while open). A search turns the query into
terms, walks the postings of the term with the fewest jobs (newest first, at most
`limits.MAX_SEARCH_SCAN` entries) and keeps the jobs that have every other term; only
the salary floor reads the job itself. An applicant applies once per job with a note;
admins of the job's organisation see the applicants and set their stage (applied,
reviewing, interview, offer, rejected), which notifies the applicant.
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query, update

from . import limits, notifications, orgs, profiles, ratelimit
from .records import (
    Application,
    ApplicationView,
    Job,
    JobInput,
    JobPage,
    JobQuery,
    JobView,
    Salary,
    Stage,
)
from .store import MAX_ID, applied, count_down, count_up, job_index, job_term_counts
from .text import bounded, skill_key, tokens


def _terms(job: Job, org_name: str) -> list[str]:
    words = tokens(" ".join([job.title, job.description, job.location, org_name,
                             *job.skills]))
    terms = [f"w:{w}" for w in words] + [
        f"o:{job.org_id}", f"p:{job.workplace.value}", f"s:{job.seniority.value}", "any"]
    terms += [f"k:{skill_key(s)}" for s in job.skills]
    if job.open:
        terms.append("open")
    return list(dict.fromkeys(terms))


def _index(job: Job, add: bool) -> None:
    for term in _terms(job, orgs.get(job.org_id).name):
        if add:
            job_index[(term, job.id)] = True
            count_up(job_term_counts, term)
        elif job_index.remove((term, job.id)) is not None:
            count_down(job_term_counts, term)


def _validated(data: JobInput) -> JobInput:
    if len(data.skills) > limits.MAX_JOB_SKILLS:
        raise Reject(f"a job lists at most {limits.MAX_JOB_SKILLS} skills, got {len(data.skills)}")
    salary = data.salary
    if salary is not None:
        currency = salary.currency.strip().upper()
        if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
            raise Reject(f"{salary.currency[:10]!r} is not a currency: use a 3-letter code "
                         "such as EUR")
        if salary.min > salary.max:
            raise Reject(f"the salary range is upside down ({salary.min} > {salary.max}): "
                         "swap min and max")
        salary = Salary(salary.min, salary.max, currency)
    skills = list(dict.fromkeys(
        bounded("a skill", s, limits.MAX_SKILL_CHARS, required=True) for s in data.skills))
    return JobInput(
        title=bounded("a job title", data.title, limits.MAX_JOB_TITLE_CHARS, required=True),
        description=bounded("a job description", data.description, limits.MAX_JOB_TEXT_CHARS,
                            one_line=False),
        location=bounded("a location", data.location, limits.MAX_LOCATION_CHARS),
        workplace=data.workplace, seniority=data.seniority, skills=skills, salary=salary)


def get(job_id: int) -> Job:
    job = Job.objects.filter(id=job_id).first()
    if job is None:
        raise Reject(f"no job {job_id}: see search_jobs")
    return job


def view(job: Job, viewer: Principal) -> JobView:
    return JobView(job, orgs.get(job.org_id).name, (job.id, viewer) in applied,
                   orgs.is_admin(job.org_id, viewer))


def _set_open(job: Job, is_open: bool) -> None:
    if job.open == is_open:
        return
    _index(job, False)
    job.open = is_open
    job.save()
    _index(job, True)
    org = orgs.get(job.org_id)
    org.open_jobs += 1 if is_open else -1
    org.save()


# -- posting --------------------------------------------------------------------------------

@update
def post_job(org_id: nat64, data: JobInput) -> JobView:
    """An admin of ``org_id`` posts a job (open at once)."""
    me = ic.caller()
    org = orgs.require_admin(org_id, me)
    clean = _validated(data)
    ratelimit.check(me, "job")
    now = ic.time()
    job = Job.objects.create(
        org_id=org_id, posted_by=me, title=clean.title, description=clean.description,
        location=clean.location, workplace=clean.workplace, seniority=clean.seniority,
        skills=clean.skills, salary=clean.salary, open=True, created_at=now, updated_at=now)
    _index(job, True)
    org.open_jobs += 1
    org.save()
    return view(job, me)


@update
def update_job(job_id: nat64, data: JobInput) -> JobView:
    me = ic.caller()
    job = get(job_id)
    orgs.require_admin(job.org_id, me)
    clean = _validated(data)
    ratelimit.check(me, "job")
    _index(job, False)
    job.title, job.description, job.location = clean.title, clean.description, clean.location
    job.workplace, job.seniority, job.skills, job.salary = (
        clean.workplace, clean.seniority, clean.skills, clean.salary)
    job.updated_at = ic.time()
    job.save()
    _index(job, True)
    return view(job, me)


@update
def set_job_open(job_id: nat64, is_open: bool) -> JobView:
    """Admins close a job (no more applications) or open it again."""
    me = ic.caller()
    job = get(job_id)
    orgs.require_admin(job.org_id, me)
    _set_open(job, is_open)
    return view(job, me)


@query
def job(job_id: nat64) -> JobView | None:
    found = Job.objects.filter(id=job_id).first()
    return None if found is None else view(found, ic.caller())


# -- search ---------------------------------------------------------------------------------

def query_terms(q: JobQuery) -> list[str]:
    """The index terms a query needs (every one must hold)."""
    terms = [f"w:{w}" for w in tokens(q.words, limit=limits.MAX_QUERY_TOKENS)]
    if q.org_id is not None:
        terms.append(f"o:{q.org_id}")
    if q.workplace is not None:
        terms.append(f"p:{q.workplace.value}")
    if q.seniority is not None:
        terms.append(f"s:{q.seniority.value}")
    if q.skill is not None and q.skill.strip():
        terms.append(f"k:{skill_key(q.skill)}")
    terms.append("any" if q.include_closed else "open")
    return terms


@query
def search_jobs(q: JobQuery, cursor: str | None, limit: nat32) -> JobPage:
    """Jobs matching every word and filter, newest first; ``next`` pages on."""
    viewer = ic.caller()
    n = max(1, min(limit, limits.MAX_SEARCH_RESULTS))
    before = MAX_ID
    if cursor:
        if not cursor.isdigit() or not cursor.isascii() or len(cursor) > 20:
            raise Reject(f"bad cursor {cursor[:60]!r}: pass back the page's next")
        before = int(cursor)
    terms = query_terms(q)
    lead = min(terms, key=lambda t: job_term_counts.get(t, 0))
    rest = [t for t in terms if t != lead]
    found: list[JobView] = []
    last = None
    for (_, job_id), _ in job_index.range((lead, 0), (lead, before), reverse=True,
                                          limit=limits.MAX_SEARCH_SCAN):
        last = job_id
        if not all((t, job_id) in job_index for t in rest):
            continue
        row = get(job_id)
        if q.min_salary is not None and (row.salary is None or row.salary.max < q.min_salary):
            continue
        found.append(view(row, viewer))
        if len(found) >= n:
            break
    more = len(found) >= n and last is not None
    return JobPage(found, str(last) if more else None)


@query
def org_jobs(org_id: nat64, include_closed: bool) -> list[JobView]:
    """An organisation's jobs, newest first (closed ones only for its admins, or when asked)."""
    viewer = ic.caller()
    orgs.get(org_id)
    show_closed = include_closed and orgs.is_admin(org_id, viewer)
    term = "any" if show_closed else "open"
    lead = f"o:{org_id}"
    return [view(get(job_id), viewer) for (_, job_id), _ in job_index.range(
        (lead, 0), (lead, MAX_ID), reverse=True, limit=limits.MAX_SEARCH_SCAN)
        if (term, job_id) in job_index][: limits.MAX_SEARCH_RESULTS]


# -- applications ---------------------------------------------------------------------------

def _app_view(app: Application, viewer: Principal) -> ApplicationView:
    job = get(app.job_id)
    return ApplicationView(app.id, job.id, job.title, orgs.get(job.org_id).name,
                           profiles.card_of(app.applicant, viewer), app.note, app.stage,
                           app.created_at, app.updated_at)


@update
def apply(job_id: nat64, note: str) -> ApplicationView:
    """Apply to an open job with the caller's profile and a note."""
    me = ic.caller()
    profiles.require_user(me)
    job = get(job_id)
    if not job.open:
        raise Reject(f"job {job_id} is closed: it takes no more applications")
    if (job_id, me) in applied:
        raise Reject(f"you already applied to job {job_id}: see my_applications")
    text = bounded("an application's note", note, limits.MAX_APPLICATION_NOTE_CHARS,
                   one_line=False)
    ratelimit.check(me, "apply")
    now = ic.time()
    app = Application.objects.create(job_id=job_id, applicant=me, note=text,
                                     stage=Stage.applied, created_at=now, updated_at=now)
    applied[(job_id, me)] = app.id
    job.applicant_count += 1
    job.save()
    return _app_view(app, me)


@update
def withdraw_application(application_id: nat64) -> ApplicationView:
    me = ic.caller()
    app = Application.objects.filter(id=application_id).first()
    if app is None or app.applicant != me:
        raise Reject(f"application {application_id} is not yours: see my_applications")
    app.stage, app.updated_at = Stage.withdrawn, ic.time()
    app.save()
    return _app_view(app, me)


@query
def my_applications() -> list[ApplicationView]:
    """The caller's applications and their stages, newest first."""
    me = ic.caller()
    apps = sorted(Application.objects.filter(applicant=me), key=lambda a: -a.id)
    return [_app_view(a, me) for a in apps]


@query
def applicants(job_id: nat64, stage: Stage | None) -> list[ApplicationView]:
    """Admins of the job's organisation: its applications (of one stage if given)."""
    me = ic.caller()
    job = get(job_id)
    orgs.require_admin(job.org_id, me)
    apps = Application.objects.filter(job_id=job_id)
    return [_app_view(a, me) for a in apps if stage is None or a.stage is stage]


@update
def set_stage(application_id: nat64, stage: Stage) -> ApplicationView:
    """Admins move an applicant to ``stage``; the applicant is notified."""
    me = ic.caller()
    app = Application.objects.filter(id=application_id).first()
    if app is None:
        raise Reject(f"no application {application_id}")
    job = get(app.job_id)
    orgs.require_admin(job.org_id, me)
    if stage is Stage.withdrawn:
        raise Reject("only the applicant withdraws: pick applied, reviewing, interview, "
                     "offer or rejected")
    if app.stage is Stage.withdrawn:
        raise Reject(f"application {application_id} was withdrawn by the applicant")
    ratelimit.check(me, "stage")
    if app.stage is not stage:
        app.stage, app.updated_at = stage, ic.time()
        app.save()
        notifications.notify(app.applicant, "job_stage", me, f"{job.title}: {stage.value}",
                             f"application:{app.id}")
    return _app_view(app, me)
