"""Demo data for the professional network: a believable network of people with drawn
portraits, organisations, connections, posts, jobs and groups — what ``runreplica --demo``
adds.

How it works (like the chat and marketplace seeders, `icframework.demo`): in the server
process, before the HTTP interface opens, it builds ``apps/social`` and installs it
(recorded as ``social``), deployed by, and controlled only by, the demo's admin identity
(``<state dir>/admin.pem``), which is also the canister's moderator. Then, section by
section, it adds what the canister does not have yet: each person's profile with
experience, education, skills and a portrait and banner that `apps.social.portraits`
draws; the organisations (companies and schools) with their admins, followers and the
roles their admins attest; connections (coworkers, classmates and a few more), follows,
endorsements and recommendations; posts with hashtags, mentions and a few pictures,
comments, reactions and reposts; jobs with applications in several stages; groups with
their posts and an event with RSVPs. A second start adds nothing. Drawing the
pictures takes about 12 s for the thirty people, so the seeder says so before it draws
and keeps the JPEGs in ``.build/social-pictures`` (beside the app builds, keyed by the
drawing code): the next fresh state directory reads them back.

The demo people are the chat's (alice, bob, carol: the same keys, kept in
``<state dir>/demo/chat-users.json``) and the marketplace's (ana, ben, cleo:
``market-users.json``), so one demo user is one principal in every app, plus the
network's own (``social-users.json``). Their keys are demo data the server holds; real
users' keys stay in their browsers.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from icframework.candid import encode, parse_did, parse_values
from icframework.compiler.app_build import build_app
from icframework.core import Principal
from icframework.demo import (
    TypedCaller,
    admin_identity,
    admin_pem_path,
    demo_keys,
    install_recorded,
    method_table,
)
from icframework.identity import Ed25519Identity
from icframework.replica import Replica, pack_python_module

from .canister import post_records as P
from .canister import records as R
from .canister.limits import CHUNK_BYTES, DAY, HOUR
from .portraits import Look, banner, look_of, portrait

__all__ = ["APP_DIR", "DEMO_GROUPS", "DEMO_JOBS", "DEMO_ORGS", "DEMO_PEOPLE", "DEMO_POSTS",
           "DemoSocial", "connection_pairs", "demo_identities", "picture", "pictures_dir",
           "run_demo", "seed_demo"]

APP_DIR = Path(__file__).resolve().parent
APP_NAME = "social"
FIRST_SEED_SECONDS = 5.0
"""Seeding a new state directory, pictures already drawn (about 4 s on a 2-core machine);
drawing them the first time is announced on its own (about 12 s)."""
CANISTER_MODULE = "apps.social.canister"


@dataclass(frozen=True)
class Role:
    """An experience entry at the organisation ``org`` (a `DEMO_ORGS` key); a role with
    no ``end`` is current, and the organisation's admins attest it."""

    org: str
    title: str
    start: str
    end: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Study:
    org: str  # a school in DEMO_ORGS
    degree: str
    start: str
    end: str | None


@dataclass(frozen=True)
class Person:
    handle: str
    name: str
    headline: str
    location: str
    about: str
    skills: tuple[str, ...]
    roles: tuple[Role, ...]  # newest first
    study: Study | None
    look: dict[str, object] = field(default_factory=dict)  # `look_of` choices
    open_to_work: bool = False


@dataclass(frozen=True)
class DemoOrg:
    name: str
    kind: str  # "company" or "school"
    about: str
    website: str
    location: str
    admins: tuple[str, ...]  # the first creates the page


DEMO_ORGS: dict[str, DemoOrg] = {
    "northwind": DemoOrg("Northwind Labs", "company",
                         "Developer tools for canisters: build, test and ship Python dapps.",
                         "https://northwind.example", "Lisbon", ("dan", "alice")),
    "ledgerline": DemoOrg("Ledgerline", "company",
                          "Payments infrastructure for marketplaces, settled on-chain.",
                          "https://ledgerline.example", "London", ("jamal", "bob")),
    "bluefin": DemoOrg("Bluefin Health", "company",
                       "Patient-owned health records that clinics can verify.",
                       "https://bluefin.example", "Zurich", ("carol", "uma")),
    "solstice": DemoOrg("Solstice Energy", "company",
                        "Software for community solar and local energy markets.",
                        "https://solstice.example", "Copenhagen", ("erin", "hana")),
    "harbor": DemoOrg("Harbor Robotics", "company",
                      "Warehouse robots that learn a new layout in an afternoon.",
                      "https://harbor.example", "Rotterdam", ("farid",)),
    "paperplane": DemoOrg("Paperplane Studio", "company",
                          "A product design studio: research, interfaces, design systems.",
                          "https://paperplane.example", "Berlin", ("grace", "ines")),
    "lakeside": DemoOrg("Lakeside University", "school",
                        "A public research university by the lake since 1891.",
                        "https://lakeside.example", "Manchester", ("kofi",)),
    "riverside": DemoOrg("Riverside Institute of Technology", "school",
                         "Engineering and computer science, with industry projects "
                         "every term.", "https://riverside.example", "Munich", ("lena",)),
    "hillcrest": DemoOrg("Hillcrest School of Design", "school",
                         "Interaction, product and graphic design.",
                         "https://hillcrest.example", "Edinburgh", ("maya",)),
}

_LAKE_CS = ("lakeside", "BSc Computer Science")
_RIVER_ENG = ("riverside", "MSc Software Engineering")
_HILL = ("hillcrest", "BA Interaction Design")


def _study(school: tuple[str, str], start: str, end: str | None) -> Study:
    return Study(school[0], school[1], start, end)


DEMO_PEOPLE: tuple[Person, ...] = (
    Person("alice", "Alice Martin", "Staff engineer at Northwind Labs · Python canisters, "
           "Candid", "Lisbon, Portugal",
           "I build the tools I wished I had: a Python SDK for canisters, a local replica "
           "and tests that run in seconds. Ask me about stable structures.",
           ("Python", "Candid", "Distributed systems", "Testing", "Public speaking"),
           (Role("northwind", "Staff engineer", "2021-03", None,
                 "Leads the SDK team: stable structures, certified data, the local replica."),
            Role("ledgerline", "Software engineer", "2017-09", "2021-02",
                 "Settlement services and the reconciliation pipeline.")),
           _study(_LAKE_CS, "2013-09", "2017-06"),
           {"hair_style": "long", "glasses": True, "beard": False}),
    Person("bob", "Bob Okafor", "Payments engineer at Ledgerline", "London, UK",
           "Money movement, idempotency keys and ledgers that always add up.",
           ("Payments", "Rust", "Python", "SQL"),
           (Role("ledgerline", "Senior payments engineer", "2019-01", None,
                 "Card and ICRC token payouts for marketplaces."),),
           _study(_RIVER_ENG, "2016-10", "2018-09"),
           {"hair_style": "buzz", "beard": True, "glasses": False}),
    Person("carol", "Carol Nguyen", "Head of product, Bluefin Health", "Zurich, Switzerland",
           "Product lead for records that patients own. Previously a nurse, so I know "
           "what a bad form costs at 3 am.",
           ("Product management", "Healthcare", "UX research", "Roadmapping"),
           (Role("bluefin", "Head of product", "2020-05", None,
                 "Owns the patient app and the clinic verification flow."),),
           _study(_LAKE_CS, "2012-09", "2016-06"),
           {"hair_style": "bob", "beard": False, "earrings": True}),
    Person("dan", "Dan Kowalski", "Founder & CEO, Northwind Labs", "Lisbon, Portugal",
           "Second-time founder. We make canister development boring, in the best way.",
           ("Leadership", "Fundraising", "Python", "Developer tools"),
           (Role("northwind", "Founder & CEO", "2019-06", None),
            Role("harbor", "Engineering manager", "2015-02", "2019-05",
                 "Grew the fleet software team from 3 to 18.")),
           _study(_RIVER_ENG, "2010-10", "2012-09"),
           {"hair_style": "side", "beard": True, "glasses": False}),
    Person("erin", "Erin Walsh", "Grid software lead at Solstice Energy", "Copenhagen, Denmark",
           "Balancing a grid is a distributed systems problem with weather.",
           ("Distributed systems", "Energy markets", "Go", "Python"),
           (Role("solstice", "Grid software lead", "2020-08", None,
                 "Real-time settlement of community solar."),),
           _study(_LAKE_CS, "2011-09", "2015-06"),
           {"hair_style": "bun", "beard": False}),
    Person("farid", "Farid Haddad", "CTO, Harbor Robotics", "Rotterdam, Netherlands",
           "Robots, fleets, and the software that keeps them from bumping into each other.",
           ("Robotics", "C++", "Machine learning", "Leadership"),
           (Role("harbor", "CTO", "2018-01", None),),
           _study(_RIVER_ENG, "2008-10", "2010-09"),
           {"hair_style": "short", "beard": True, "glasses": True}),
    Person("grace", "Grace Liu", "Design director, Paperplane Studio", "Berlin, Germany",
           "Design systems, accessibility and honest interfaces. I write a weekly note on "
           "#design.", ("Design systems", "Accessibility", "Figma", "Public speaking"),
           (Role("paperplane", "Design director", "2018-04", None),),
           Study("hillcrest", "MA Interaction Design", "2012-09", "2014-06"),
           {"hair_style": "long", "beard": False, "glasses": False}),
    Person("hiro", "Hiro Tanaka", "Data engineer at Bluefin Health", "Zurich, Switzerland",
           "Pipelines, SQL and privacy-preserving analytics.",
           ("Data engineering", "SQL", "Python", "Privacy"),
           (Role("bluefin", "Data engineer", "2021-01", None),
            Role("solstice", "Data analyst", "2018-06", "2020-12")),
           _study(_LAKE_CS, "2014-09", "2018-06"),
           {"hair_style": "side", "beard": False, "glasses": True}),
    Person("ines", "Ines Ferreira", "Product designer at Paperplane Studio", "Berlin, Germany",
           "Interfaces for complicated things: health, money, energy.",
           ("Figma", "Prototyping", "UX research", "Design systems"),
           (Role("paperplane", "Senior product designer", "2019-09", None),),
           _study(_HILL, "2013-09", "2017-06"),
           {"hair_style": "curly", "beard": False, "earrings": True}),
    Person("jamal", "Jamal Carter", "Engineering manager at Ledgerline", "London, UK",
           "Manager of the payouts team. Hiring!",
           ("Leadership", "Payments", "Hiring", "Java"),
           (Role("ledgerline", "Engineering manager", "2018-03", None),),
           _study(_LAKE_CS, "2009-09", "2013-06"),
           {"hair_style": "short", "beard": True}),
    Person("kofi", "Kofi Mensah", "Lecturer in distributed systems, Lakeside University",
           "Manchester, UK", "I teach consensus to second-years and learn something "
           "every term.", ("Teaching", "Distributed systems", "Research", "Python"),
           (Role("lakeside", "Lecturer", "2016-09", None,
                 "Distributed systems and the blockchain module."),),
           Study("riverside", "PhD Computer Science", "2011-10", "2016-06"),
           {"hair_style": "buzz", "beard": True, "glasses": True}),
    Person("lena", "Lena Schmidt", "Careers office, Riverside Institute of Technology",
           "Munich, Germany", "I connect students with their first job.",
           ("Recruiting", "Career coaching", "Events"),
           (Role("riverside", "Head of careers", "2017-01", None),), None,
           {"hair_style": "bob", "beard": False}),
    Person("maya", "Maya Patel", "Dean, Hillcrest School of Design", "Edinburgh, UK",
           "Design education for the next fifty years.",
           ("Teaching", "Design strategy", "Leadership"),
           (Role("hillcrest", "Dean", "2019-09", None),), None,
           {"hair_style": "bun", "beard": False, "earrings": True, "glasses": True}),
    Person("nils", "Nils Berg", "Robotics engineer at Harbor Robotics", "Rotterdam, Netherlands",
           "Motion planning and very long test runs.", ("Robotics", "C++", "ROS"),
           (Role("harbor", "Robotics engineer", "2020-02", None),),
           _study(_RIVER_ENG, "2017-10", "2019-09"),
           {"hair_style": "short", "beard": False}),
    Person("olivia", "Olivia Rossi", "Frontend engineer at Northwind Labs", "Milan, Italy",
           "TypeScript, accessible components and the browser agent.",
           ("TypeScript", "Accessibility", "React", "Testing"),
           (Role("northwind", "Frontend engineer", "2022-01", None),
            Role("paperplane", "Design technologist", "2019-05", "2021-12")),
           _study(_HILL, "2015-09", "2019-06"),
           {"hair_style": "long", "beard": False, "earrings": True}),
    Person("pedro", "Pedro Alves", "Site reliability engineer at Northwind Labs",
           "Porto, Portugal", "Pager on, coffee ready.",
           ("Kubernetes", "Observability", "Python", "Incident response"),
           (Role("northwind", "Site reliability engineer", "2021-06", None),),
           _study(_LAKE_CS, "2015-09", "2019-06"),
           {"hair_style": "curly", "beard": True}),
    Person("quinn", "Quinn Murphy", "Security researcher at Ledgerline", "Dublin, Ireland",
           "Threat models, fuzzers and polite bug reports.",
           ("Security", "Rust", "Cryptography", "Fuzzing"),
           (Role("ledgerline", "Security researcher", "2020-10", None),),
           _study(_RIVER_ENG, "2018-10", "2020-09"),
           {"hair_style": "side", "beard": False, "glasses": True}),
    Person("rosa", "Rosa Jiménez", "Energy analyst at Solstice Energy", "Madrid, Spain",
           "Forecasts, tariffs and the occasional heat wave.",
           ("Energy markets", "Data analysis", "SQL", "Forecasting"),
           (Role("solstice", "Energy analyst", "2021-09", None),),
           _study(_LAKE_CS, "2016-09", "2020-06"),
           {"hair_style": "long", "beard": False}),
    Person("sam", "Sam Taylor", "Computer science student at Lakeside University",
           "Manchester, UK", "Final-year student looking for a graduate role in backend "
           "engineering.", ("Python", "Distributed systems", "SQL"),
           (Role("northwind", "Engineering intern", "2023-06", "2023-09",
                 "Wrote the replica's first benchmark."),),
           _study(_LAKE_CS, "2021-09", None),
           {"hair_style": "short", "beard": False}, open_to_work=True),
    Person("tariq", "Tariq Aziz", "Machine learning engineer at Harbor Robotics",
           "Rotterdam, Netherlands", "Perception models that run on a forklift.",
           ("Machine learning", "Python", "Computer vision"),
           (Role("harbor", "Machine learning engineer", "2021-03", None),),
           _study(_RIVER_ENG, "2018-10", "2020-09"),
           {"hair_style": "short", "beard": True, "glasses": True}),
    Person("uma", "Uma Krishnan", "Clinical informatics at Bluefin Health",
           "Zurich, Switzerland", "Making clinical data useful and private.",
           ("Healthcare", "Data engineering", "Privacy", "Product management"),
           (Role("bluefin", "Clinical informatics lead", "2020-11", None),), None,
           {"hair_style": "bun", "beard": False, "earrings": True}),
    Person("victor", "Victor Dubois", "Technical recruiter at Ledgerline", "Paris, France",
           "I read every application myself.", ("Recruiting", "Hiring", "Employer branding"),
           (Role("ledgerline", "Technical recruiter", "2021-04", None),), None,
           {"hair_style": "side", "beard": True}),
    Person("wen", "Wen Zhao", "UX researcher at Paperplane Studio", "Berlin, Germany",
           "Interviews, diary studies and the five-second test.",
           ("UX research", "Accessibility", "Workshops"),
           (Role("paperplane", "UX researcher", "2020-03", None),),
           _study(_HILL, "2015-09", "2019-06"),
           {"hair_style": "bob", "beard": False, "glasses": True}),
    Person("xavier", "Xavier Costa", "Backend engineer · open to new roles", "Lisbon, Portugal",
           "Five years of Python backends; looking for a team that ships.",
           ("Python", "SQL", "Kubernetes", "Payments"),
           (Role("solstice", "Backend engineer", "2019-01", "2024-03",
                 "Metering APIs and the billing service."),),
           _study(_LAKE_CS, "2014-09", "2018-06"),
           {"hair_style": "curly", "beard": False}, open_to_work=True),
    Person("yara", "Yara Nasser", "Graduate student, Riverside Institute of Technology",
           "Munich, Germany", "Researching verifiable credentials; open to internships.",
           ("Cryptography", "Python", "Research"),
           (), _study(_RIVER_ENG, "2023-10", None),
           {"hair_style": "long", "beard": False, "glasses": True}, open_to_work=True),
    Person("zoe", "Zoe Adams", "Developer advocate at Northwind Labs", "Amsterdam, Netherlands",
           "Talks, tutorials and sample apps. Come say hi at the meetup.",
           ("Public speaking", "Python", "Writing", "Developer tools"),
           (Role("northwind", "Developer advocate", "2022-04", None),),
           _study(_HILL, "2014-09", "2018-06"),
           {"hair_style": "curly", "beard": False, "earrings": True}),
    Person("ana", "Ana Silva", "Owner, Ana's Bikes", "Lisbon, Portugal",
           "I sell and repair city bikes; my shop is on the marketplace demo.",
           ("Retail", "Bicycle repair", "Customer service"),
           (), None, {"hair_style": "bob", "beard": False}),
    Person("ben", "Ben Clarke", "Owner, Ben's Kitchen", "Bristol, UK",
           "Kitchenware that lasts. Find my shop on the marketplace demo.",
           ("Retail", "Product sourcing"), (), None, {"hair_style": "buzz", "beard": True}),
    Person("cleo", "Cleo Laurent", "Freelance illustrator · open to commissions", "Lyon, France",
           "Editorial and product illustration.", ("Illustration", "Figma", "Branding"),
           (Role("paperplane", "Illustrator (contract)", "2022-02", "2023-08"),),
           _study(_HILL, "2016-09", "2020-06"),
           {"hair_style": "curly", "beard": False, "earrings": True}, open_to_work=True),
    Person("hana", "Hana Novak", "Product manager at Solstice Energy", "Prague, Czechia",
           "Turning grid data into features people use.",
           ("Product management", "Energy markets", "Roadmapping"),
           (Role("solstice", "Product manager", "2021-02", None),),
           _study(_RIVER_ENG, "2017-10", "2019-09"),
           {"hair_style": "long", "beard": False}),
)
PEOPLE = {p.handle: p for p in DEMO_PEOPLE}
CHAT_PEOPLE = ("alice", "bob", "carol")  # the chat demo's users (apps.chat.seed)
MARKET_PEOPLE = ("ana", "ben", "cleo")  # the marketplace demo's (apps.marketplace.seed)

#: connections beyond coworkers and classmates: (requester, other, note)
EXTRA_CONNECTIONS: tuple[tuple[str, str, str], ...] = (
    ("alice", "grace", "Loved your talk on design systems."),
    ("alice", "kofi", "Thanks for having me in your lecture!"),
    ("alice", "carol", "Great meeting you at the health data meetup."),
    ("alice", "erin", ""),
    ("alice", "ana", "Your city bike still runs perfectly."),
    ("bob", "quinn", ""), ("bob", "carol", ""), ("bob", "ben", "Payments for your shop?"),
    ("dan", "farid", "Old Harbor friends."), ("dan", "jamal", ""), ("dan", "grace", ""),
    ("grace", "maya", ""), ("grace", "olivia", ""), ("zoe", "kofi", "Meetup speaker?"),
    ("lena", "yara", ""), ("lena", "sam", ""), ("kofi", "sam", ""), ("victor", "xavier", ""),
    ("hana", "carol", ""), ("tariq", "hiro", ""), ("cleo", "ines", ""),
)
#: requests left waiting, so the network page has something to answer: (from, to, note)
PENDING_REQUESTS: tuple[tuple[str, str, str], ...] = (
    ("yara", "alice", "Your post on certified data helped my thesis. Thanks!"),
    ("nils", "alice", "We met at the Rotterdam meetup; I'd like to stay in touch."),
    ("wen", "alice", "Hi Alice, I'm researching how developers read canister errors. "
                     "Could we connect?"),
    ("cleo", "bob", ""),
)
#: one-way follows of people (beyond connections)
FOLLOWS: tuple[tuple[str, str], ...] = (
    *((h, "grace") for h in ("alice", "bob", "hiro", "sam", "xavier", "yara", "cleo", "zoe")),
    *((h, "dan") for h in ("sam", "xavier", "yara", "kofi")),
    ("sam", "alice"), ("yara", "alice"), ("ana", "alice"), ("ben", "bob"),
)
#: hashtags people follow
HASHTAGS_FOLLOWED: tuple[tuple[str, str], ...] = (
    ("alice", "python"), ("alice", "canisters"), ("sam", "hiring"), ("xavier", "hiring"),
    ("yara", "cryptography"), ("grace", "design"), ("ines", "accessibility"),
)
#: written recommendations: (author, subject, relationship, text); the subject accepts
#: each but the last, which waits for the subject's decision
RECOMMENDATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("dan", "alice", "Alice's manager at Northwind Labs",
     "Alice turned a research prototype into an SDK that hundreds of developers rely on. "
     "She writes the test first and explains the hard parts patiently."),
    ("jamal", "bob", "Bob's manager at Ledgerline",
     "Bob rebuilt our payouts with idempotency from the ground up; we have not lost a "
     "cent since."),
    ("grace", "ines", "Worked together at Paperplane Studio",
     "Ines is the designer I send to the hardest problem in the room."),
    ("kofi", "sam", "Sam's lecturer at Lakeside University",
     "Sam's distributed systems project was the best of the year: a replicated log "
     "with a real test harness."),
    ("alice", "olivia", "Worked together at Northwind Labs",
     "Olivia made our browser agent accessible and fast. A joy to work with."),
)
#: recommendations asked for and not written yet: (subject, author asked, note)
RECOMMENDATION_REQUESTS: tuple[tuple[str, str, str], ...] = (
    ("yara", "lena", "Could you say a few words about my work with the careers office's "
                     "student projects?"),
)

#: posts: (key, author, text, picture or None, org key or None, group key or None);
#: a picture is a `banner` drawn for that name
DEMO_POSTS: tuple[tuple[str, str, str, str | None, str | None, str | None], ...] = (
    ("sdk", "alice", "We just shipped certified data in the #python SDK: your page can "
     "check a canister's answer against the replica's certificate. Thanks @olivia and "
     "@pedro for the late-night reviews! #canisters", None, None, None),
    ("offsite", "dan", "Our first team offsite by the sea. Twelve people, three "
     "prototypes, zero slides. #teamwork #startups", "offsite", None, None),
    ("hiring-ledger", "jamal", "Ledgerline is hiring a senior backend engineer for "
     "payouts (Python, SQL). Remote in Europe. Jobs tab on our page. #hiring #payments",
     None, None, None),
    ("design-note", "grace", "Weekly #design note: an accessible colour palette is a "
     "design decision, not an audit finding. Start with contrast, then pick the mood. "
     "#accessibility", None, None, None),
    ("grid", "erin", "Yesterday our community solar pilot settled 4,000 households in "
     "real time. Distributed systems with weather. #energy #canisters", "grid", None,
     None),
    ("thesis", "yara", "Submitted my thesis proposal on verifiable employment records! "
     "Attestations from an organisation's admins, checked in the browser. "
     "#cryptography", None, None, None),
    ("graduate", "sam", "Final year, final project: a replicated log in Python with a "
     "property-based test suite. Looking for a graduate role in backend engineering. "
     "#opentowork #python", None, None, None),
    ("robots", "farid", "Our robots learned a new warehouse layout in under four hours "
     "this week. Proud of this team. #robotics", "warehouse", None, None),
    ("records", "carol", "Patients at three clinics can now share a verified record "
     "with one link. Privacy by design, not by policy. #healthcare", None, None, None),
    ("meetup", "zoe", "Slides and code from last night's Python canisters meetup are "
     "up. Next one is in Lisbon, see the group's events. #python #canisters", None, None,
     None),
    ("bikes", "ana", "Spring tune-ups are open at Ana's Bikes: bring your city bike in "
     "for a check. #smallbusiness", None, None, None),
    ("northwind-launch", "alice", "Northwind Labs 2.0: a local replica, a dashboard and "
     "the reference apps, in one command. #canisters", "launch", "northwind", None),
    ("security", "quinn", "Fuzzed our Candid decoder for a week: two bugs found, both "
     "fixed upstream. Responsible disclosure works. #security", None, None, None),
    ("group-welcome", "zoe", "Welcome to Python on the IC! Introduce yourself below and "
     "share what you are building.", None, None, "python-ic"),
    ("group-tokens", "grace", "Which design tokens do you keep in code and which in "
     "Figma? Sharing our setup in the thread.", None, None, "design-systems"),
)
#: comments: (post key, author, text, index of the comment replied to or None)
COMMENTS: tuple[tuple[str, str, str, int | None], ...] = (
    ("sdk", "bob", "Huge. We'll use this for payout receipts.", None),
    ("sdk", "alice", "@bob let's pair on it next week.", 0),
    ("sdk", "kofi", "Adding this to my lecture on certificates.", None),
    ("offsite", "alice", "Best three days of the year.", None),
    ("hiring-ledger", "xavier", "Applied! Payouts are exactly what I did at Solstice.",
     None),
    ("design-note", "ines", "Contrast first, always.", None),
    ("design-note", "wen", "Our research backs this: users notice low contrast before "
     "anything else.", None),
    ("grid", "rosa", "The forecasts held up too.", None),
    ("thesis", "alice", "Happy to review a draft, @yara.", None),
    ("thesis", "yara", "Thank you! Sending it next week.", 8),
    ("graduate", "lena", "Come by the careers fair on Thursday, Sam.", None),
    ("robots", "tariq", "The perception model did most of the work ;)", None),
    ("records", "uma", "And the clinicians love it.", None),
    ("group-welcome", "sam", "Hi all, final-year student building a replicated log.",
     None),
    ("group-welcome", "alice", "Welcome Sam!", 13),
)
#: reactions: (post key, user, kind)
REACTIONS: tuple[tuple[str, str, str], ...] = (
    *(("sdk", h, k) for h, k in (("bob", "celebrate"), ("dan", "celebrate"),
                                 ("olivia", "love"), ("pedro", "like"), ("kofi", "insightful"),
                                 ("zoe", "celebrate"), ("sam", "like"))),
    *(("offsite", h, "like") for h in ("alice", "olivia", "pedro", "zoe", "farid")),
    *(("design-note", h, "insightful") for h in ("ines", "wen", "olivia", "maya", "cleo")),
    ("grid", "rosa", "celebrate"), ("grid", "hana", "celebrate"), ("grid", "alice", "like"),
    ("thesis", "lena", "support"), ("thesis", "alice", "celebrate"),
    ("graduate", "kofi", "support"), ("graduate", "lena", "support"),
    ("robots", "nils", "celebrate"), ("robots", "tariq", "love"), ("robots", "dan", "like"),
    ("records", "hiro", "celebrate"), ("records", "bob", "like"),
    ("security", "bob", "insightful"), ("security", "alice", "insightful"),
    ("bikes", "alice", "love"), ("hiring-ledger", "victor", "like"),
)
#: reposts with a comment: (post key, user, comment)
REPOSTS: tuple[tuple[str, str, str], ...] = (
    ("hiring-ledger", "victor", "Great team, and I read every application myself."),
    ("sdk", "zoe", "The demo at the next meetup will use this."),
)


@dataclass(frozen=True)
class DemoJob:
    org: str
    poster: str
    title: str
    description: str
    location: str
    workplace: str
    seniority: str
    skills: tuple[str, ...]
    salary: tuple[int, int, str] | None
    #: (applicant, note, stage the poster has moved them to)
    applicants: tuple[tuple[str, str, str], ...] = ()


DEMO_JOBS: tuple[DemoJob, ...] = (
    DemoJob("ledgerline", "jamal", "Senior backend engineer, payouts",
            "Own the services that pay out marketplace sellers: idempotent transfers, "
            "reconciliation and the ledger integration.", "London", "remote", "senior",
            ("Python", "SQL", "Payments"), (85_000, 110_000, "GBP"),
            (("xavier", "Five years of billing backends at Solstice Energy.", "interview"),
             ("sam", "Graduating this summer; my final project is a replicated log.",
              "reviewing"))),
    DemoJob("northwind", "dan", "Developer advocate",
            "Talks, tutorials and sample apps for the Python canister SDK.", "Lisbon",
            "hybrid", "mid", ("Public speaking", "Python", "Writing"), None,
            (("cleo", "I illustrate technical stories; I'd love to write them too.",
              "applied"),)),
    DemoJob("northwind", "alice", "Graduate software engineer",
            "Join the SDK team: stable structures, the replica and its tests.", "Lisbon",
            "hybrid", "entry", ("Python", "Testing"), (38_000, 45_000, "EUR"),
            (("sam", "I interned at Northwind in 2023 and wrote the first benchmark.",
              "offer"),
             ("yara", "Researching verifiable credentials; keen on certified data.",
              "interview"))),
    DemoJob("harbor", "farid", "Robotics software engineer",
            "Motion planning for warehouse fleets.", "Rotterdam", "onsite", "mid",
            ("Robotics", "C++", "ROS"), (60_000, 80_000, "EUR")),
    DemoJob("paperplane", "grace", "Product designer (accessibility)",
            "Lead accessibility across client design systems.", "Berlin", "hybrid",
            "senior", ("Accessibility", "Figma", "Design systems"), (70_000, 90_000, "EUR"),
            (("cleo", "Portfolio of accessible illustration systems attached to my "
                      "profile.", "rejected"),)),
    DemoJob("bluefin", "carol", "Data engineer, privacy",
            "Privacy-preserving analytics on patient-owned records.", "Zurich", "remote",
            "mid", ("Data engineering", "Privacy", "SQL"), None),
)


@dataclass(frozen=True)
class DemoGroup:
    name: str
    description: str
    policy: str  # "open" or "request"
    owner: str
    admins: tuple[str, ...]
    members: tuple[str, ...]
    #: those who asked to join a "request" group and wait for an admin
    waiting: tuple[str, ...] = ()


DEMO_GROUPS: dict[str, DemoGroup] = {
    "python-ic": DemoGroup("Python on the IC", "Builders of Python canisters: questions, "
                           "show and tell, meetups.", "open", "zoe", ("alice",),
                           ("dan", "olivia", "pedro", "kofi", "sam", "yara", "xavier",
                            "bob", "erin")),
    "design-systems": DemoGroup("Design systems guild", "Tokens, components and "
                                "accessibility, for practitioners.", "request", "grace",
                                ("ines",), ("wen", "olivia", "maya", "cleo"), ("zoe",)),
    "lakeside-alumni": DemoGroup("Lakeside alumni", "Graduates of Lakeside University.",
                                 "request", "kofi", (), ("alice", "carol", "erin", "hiro",
                                                         "jamal", "pedro", "rosa")),
}
#: the event: (group key, creator, title, description, location, days from now, hours
#: long, RSVPs as (user, answer))
DEMO_EVENT = ("python-ic", "zoe", "Python canisters meetup, Lisbon",
              "Talks on certified data and the local replica, then drinks by the river.",
              "Northwind Labs, Lisbon", 14, 3,
              (("alice", "going"), ("dan", "going"), ("olivia", "going"), ("sam", "going"),
               ("pedro", "interested"), ("kofi", "interested"), ("xavier", "going")))


@dataclass
class DemoSocial:
    """What `seed_demo` found and did."""

    canister_id: Principal
    canister: str  # "created", "installed", "upgraded", "unchanged" or "kept (...)"
    users: dict[str, Principal]
    admin: Principal  # the canister's controller and moderator
    added: list[str] = field(default_factory=list)  # what this run created, for the log


def demo_identities(state_dir: Path) -> dict[str, Ed25519Identity]:
    """The demo people's identities by handle (created and saved on first use): the chat's
    and the marketplace's own keys for the people those demos have, so a demo user is one
    principal in every app, and ``<state dir>/demo/social-users.json`` for the rest."""
    from apps.chat.seed import demo_identities as chat_identities
    from apps.marketplace.seed import demo_identities as market_identities

    chat = chat_identities(state_dir, create=True)
    market = market_identities(state_dir)
    own = demo_keys(state_dir / "demo" / "social-users.json",
                    [p.handle for p in DEMO_PEOPLE
                     if p.handle not in CHAT_PEOPLE + MARKET_PEOPLE], create=True)
    return {p.handle: chat.get(p.handle) or market.get(p.handle) or own[p.handle]
            for p in DEMO_PEOPLE}


def _init_arg(did: str, admin: Principal) -> bytes:
    """The install and upgrade argument: the demo admin is the canister's moderator."""
    service = parse_did(did)
    assert service.service_args is not None
    text = f'(opt record {{ admins = vec {{ principal "{admin.to_text()}" }} }})'
    return encode(service.service_args, parse_values(text, service.service_args,
                                                     env=service.env))


def pictures_dir() -> Path:
    """Where drawn pictures are cached: ``.build/social-pictures`` (beside the app builds),
    keyed by a hash of `apps.social.portraits`' source, so a change of drawing redraws."""
    return Path(settings.BASE_DIR) / ".build" / "social-pictures"


@functools.cache
def _drawing_hash() -> str:
    """The SHA-256 of `apps.social.portraits`' source, read once per process."""
    return hashlib.sha256((APP_DIR / "portraits.py").read_bytes()).hexdigest()


def _picture_path(kind: str, name: str, look: Look | None) -> Path:
    key = hashlib.sha256(f"{_drawing_hash()} {kind} {name} {look!r}".encode()).hexdigest()
    return pictures_dir() / f"{kind}-{key[:24]}.jpg"


def picture(kind: str, name: str, look: Look | None = None) -> bytes:
    """The JPEG ``kind`` ("avatar", "banner" or "post") of ``name``, drawn by
    `apps.social.portraits` or read from `pictures_dir` when drawn before."""
    path = _picture_path(kind, name, look)
    try:
        return path.read_bytes()
    except OSError:
        pass
    jpeg = portrait(name, look) if kind == "avatar" else banner(name, look)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(jpeg)
        tmp.replace(path)
    except OSError:
        pass  # a read-only checkout: draw again next time
    return jpeg


class _Seeder:
    """One seeding run: typed calls as the demo people, and the log of what was added."""

    def __init__(self, call: TypedCaller, users: dict[str, Principal],
                 progress: Callable[[str], None]) -> None:
        self.call, self.users, self.progress = call, users, progress
        self.added: list[str] = []
        self.orgs: dict[str, int] = {}
        self.groups: dict[str, int] = {}
        self.post_ids: dict[str, int] = {}

    def __call__(self, handle: str, method: str, *args: Any) -> Any:
        return self.call(self.users[handle], method, *args)

    # -- people ---------------------------------------------------------------------------
    def people(self) -> None:
        """Each person without a profile: registered, with skills, portrait and banner."""
        missing = [p for p in DEMO_PEOPLE if self(p.handle, "me") is None]
        if not missing:
            return
        cached = all(_cached("avatar", p) and _cached("banner", p) for p in missing)
        self.progress(f"social: {len(missing)} demo people to register"
                      + ("" if cached else
                         f"; drawing their portraits and banners (about "
                         f"{max(1, round(len(missing) * DRAW_SECONDS))} s, once: kept in "
                         f"{pictures_dir()})"))
        for person in missing:
            self(person.handle, "register", person.handle, R.ProfileInput(
                name=person.name, headline=person.headline, about=person.about,
                location=person.location, links=[], open_to_work=person.open_to_work))
            self(person.handle, "set_skills", list(person.skills))
            look = look_of(person.handle, **person.look)
            for kind in (R.ImageKind.avatar, R.ImageKind.banner):
                self._upload_profile_image(person.handle, kind,
                                           picture(kind.value, person.handle, look))
        self.added.append(f"{len(missing)} people")

    def _upload_profile_image(self, handle: str, kind: Any, jpeg: bytes) -> None:
        upload = self(handle, "begin_profile_image", kind, "image/jpeg", len(jpeg))
        for index, start in enumerate(range(0, len(jpeg), CHUNK_BYTES)):
            self(handle, "upload_profile_image_chunk", upload, index,
                 jpeg[start:start + CHUNK_BYTES])
        self(handle, "commit_profile_image", upload)

    def histories(self) -> None:
        """Experience and education, linked to the organisation pages (after `orgs`)."""
        for person in DEMO_PEOPLE:
            mine = self(person.handle, "me")
            if mine.experience or mine.education or not (person.roles or person.study):
                continue
            if person.roles:
                self(person.handle, "set_experience", [
                    R.Experience(title=r.title, organisation=DEMO_ORGS[r.org].name,
                                 org_id=self.orgs[r.org], start=r.start, end=r.end,
                                 description=r.description) for r in person.roles])
            if person.study is not None:
                s = person.study
                self(person.handle, "set_education", [R.Education(
                    school=DEMO_ORGS[s.org].name, org_id=self.orgs[s.org],
                    degree=s.degree, start=s.start, end=s.end, description="")])

    # -- organisations --------------------------------------------------------------------
    def organisations(self) -> None:
        """Each organisation page (found among its creator's), its other admins and its
        followers: everyone with a role or a study there."""
        made = []
        for key, org in DEMO_ORGS.items():
            creator = org.admins[0]
            found = [o for o in self(creator, "my_orgs") if o.org.name == org.name]
            if found:
                self.orgs[key] = int(found[0].org.id)
                continue
            view = self(creator, "create_org", R.OrgInput(
                name=org.name, kind=R.OrgKind(org.kind), about=org.about,
                website=org.website, location=org.location))
            self.orgs[key] = oid = int(view.org.id)
            for admin in org.admins[1:]:
                self(creator, "add_org_admin", oid, self.users[admin])
            for person in DEMO_PEOPLE:
                linked = {r.org for r in person.roles} | (
                    {person.study.org} if person.study else set())
                if key in linked and person.handle not in org.admins:
                    self(person.handle, "follow_org", oid)
            made.append(org.name)
        if made:
            self.added.append(f"{len(made)} organisations")

    def attestations(self) -> None:
        """An admin of each organisation attests the roles held there (not their own)."""
        made = 0
        for person in DEMO_PEOPLE:
            have = {(int(a.org_id), a.title) for a in self(
                person.handle, "attestations_of", self.users[person.handle])}
            for role in person.roles:
                admins = [a for a in DEMO_ORGS[role.org].admins if a != person.handle]
                if not admins or (self.orgs[role.org], role.title) in have:
                    continue
                self(admins[0], "attest_employment", self.orgs[role.org],
                     self.users[person.handle], role.title, role.start, role.end)
                made += 1
        if made:
            self.added.append(f"{made} attested roles")

    # -- graph ----------------------------------------------------------------------------
    def connections(self) -> None:
        """Coworkers, classmates and `EXTRA_CONNECTIONS` connected (a request and its
        accept), and `PENDING_REQUESTS` left waiting."""
        made = 0
        for a, b, note in connection_pairs():
            relation = self(a, "profile", b).relation.value
            if relation == "connected":
                continue
            if relation == "none":
                self(a, "send_request", self.users[b], note)
                relation = "request_sent"
            if relation == "request_sent":
                self(b, "accept_request", self.users[a])
            else:
                self(a, "accept_request", self.users[b])
            made += 1
        waiting = 0
        for a, b, note in PENDING_REQUESTS:
            if self(a, "profile", b).relation.value == "none":
                self(a, "send_request", self.users[b], note)
                waiting += 1
        if made or waiting:
            self.added.append(f"{made} connections, {waiting} requests waiting")

    def follows(self) -> None:
        """One-way follows of people, and followed hashtags."""
        for a, b in FOLLOWS:
            if not self(a, "profile", b).following:
                self(a, "follow", self.users[b])
        for handle, tag in HASHTAGS_FOLLOWED:
            if not self(handle, "hashtag", tag).following:
                self(handle, "follow_hashtag", tag)

    # -- trust ----------------------------------------------------------------------------
    def endorsements(self) -> None:
        """Each pair of connections endorses the other's first two skills."""
        made = 0
        for a, b, _note in connection_pairs():
            for giver, taker in ((a, b), (b, a)):
                for skill in PEOPLE[taker].skills[:2]:
                    who = self(giver, "endorsers", self.users[taker], skill)
                    if all(card.handle != giver for card in who):
                        self(giver, "endorse", self.users[taker], skill)
                        made += 1
        if made:
            self.added.append(f"{made} endorsements")

    def recommendations(self) -> None:
        """`RECOMMENDATIONS` written (all accepted but the last) and
        `RECOMMENDATION_REQUESTS` asked for."""
        made = 0
        for index, (author, subject, relationship, text) in enumerate(RECOMMENDATIONS):
            have = self(subject, "my_recommendations")
            if any(r.author.handle == author and r.subject.handle == subject for r in have):
                continue
            rec = self(author, "write_recommendation", self.users[subject], relationship,
                       text)
            if index < len(RECOMMENDATIONS) - 1:
                self(subject, "accept_recommendation", rec.id)
            made += 1
        for subject, author, note in RECOMMENDATION_REQUESTS:
            have = self(subject, "my_recommendations")
            if not any(r.author.handle == author for r in have):
                self(subject, "request_recommendation", self.users[author], note)
                made += 1
        if made:
            self.added.append(f"{made} recommendations")

    # -- groups ---------------------------------------------------------------------------
    def seed_groups(self) -> None:
        """`DEMO_GROUPS` with their admins and members, and those waiting to join."""
        for key, group in DEMO_GROUPS.items():
            found = [g for g in self(group.owner, "my_group_list") if g.name == group.name]
            if found:
                self.groups[key] = int(found[0].id)
                continue
            view = self(group.owner, "create_group", P.GroupInput(
                name=group.name, description=group.description,
                policy=P.JoinPolicy(group.policy)))
            self.groups[key] = gid = int(view.id)
            for member in (*group.admins, *group.members):
                self(member, "join_group", gid)
                if group.policy == "request":
                    self(group.owner, "answer_join_request", gid, self.users[member], True)
            for admin in group.admins:
                self(group.owner, "set_group_role", gid, self.users[admin],
                     P.GroupRole.admin)
            for waiting in group.waiting:
                self(waiting, "join_group", gid)
            self.added.append(f"group {group.name!r}")

    def event(self) -> None:
        """`DEMO_EVENT`, two weeks from the first seeding, with its RSVPs."""
        group, creator, title, description, location, days, hours, answers = DEMO_EVENT
        gid = self.groups[group]
        if any(e.title == title for e in self(creator, "group_events", gid, 50)):
            return
        starts = time.time_ns() + days * DAY
        view = self(creator, "create_event", P.EventInput(
            title=title, description=description, location=location, starts_at=starts,
            ends_at=starts + hours * HOUR, group_id=gid))
        for user, answer in answers:
            self(user, "rsvp", view.id, P.Rsvp(answer))
        self.added.append(f"event {title!r}")

    # -- posts ----------------------------------------------------------------------------
    def posts(self) -> None:
        """Posts with their pictures, comments, reactions and reposts, when the first
        post's author has not posted it yet (the posts are seeded together)."""
        _key, first_author, first_text, *_rest = DEMO_POSTS[0]
        mine = self(first_author, "user_posts", self.users[first_author], None, 50)
        if any(p.text == first_text for p in mine.posts):
            return
        for key, author, text, drawn, org, group in DEMO_POSTS:
            images = [] if drawn is None else [self._upload_post_image(author, drawn)]
            view = self(author, "create_post", P.PostInput(
                text=text, image_ids=images, audience=P.Audience.public,
                org_id=None if org is None else self.orgs[org],
                group_id=None if group is None else self.groups[group]))
            self.post_ids[key] = int(view.id)
        comments: list[int] = []
        for key, author, text, parent in COMMENTS:
            comment = self(author, "add_comment", self.post_ids[key],
                           None if parent is None else comments[parent], text)
            comments.append(int(comment.id))
        for key, user, kind in REACTIONS:
            self(user, "react", self.post_ids[key], P.ReactionKind(kind))
        for key, user, comment_text in REPOSTS:
            self(user, "repost", self.post_ids[key], comment_text, P.Audience.public)
        self.added.append(f"{len(DEMO_POSTS)} posts with {len(COMMENTS)} comments")

    def _upload_post_image(self, handle: str, name: str) -> int:
        jpeg = picture("post", name)
        image = self(handle, "begin_post_image", "image/jpeg", len(jpeg))
        for index, start in enumerate(range(0, len(jpeg), CHUNK_BYTES)):
            self(handle, "upload_post_image_chunk", image, index,
                 jpeg[start:start + CHUNK_BYTES])
        return int(self(handle, "commit_post_image", image))

    # -- jobs -----------------------------------------------------------------------------
    def jobs(self) -> None:
        """`DEMO_JOBS` posted by an admin of their organisation, with applications moved
        through their stages."""
        made = 0
        for job in DEMO_JOBS:
            org_id = self.orgs[job.org]
            if any(v.job.title == job.title for v in self(job.poster, "org_jobs", org_id,
                                                          True)):
                continue
            salary = None if job.salary is None else R.Salary(
                min=job.salary[0], max=job.salary[1], currency=job.salary[2])
            view = self(job.poster, "post_job", org_id, R.JobInput(
                title=job.title, description=job.description, location=job.location,
                workplace=R.Workplace(job.workplace), seniority=R.Seniority(job.seniority),
                skills=list(job.skills), salary=salary))
            for applicant, note, stage in job.applicants:
                application = self(applicant, "apply", view.job.id, note)
                if stage != "applied":
                    self(job.poster, "set_stage", application.id, R.Stage(stage))
            made += 1
        if made:
            self.added.append(f"{made} jobs")


DRAW_SECONDS = 0.4
"""About how long drawing one person's portrait and banner takes (measured: ~12 s for 30)."""


def _cached(kind: str, person: Person) -> bool:
    return _picture_path(kind, person.handle, look_of(person.handle, **person.look)).is_file()


def connection_pairs() -> Iterator[tuple[str, str, str]]:
    """Coworkers (a shared organisation, past or present) and classmates (the same
    school, overlapping years), then `EXTRA_CONNECTIONS`: (requester, other, note),
    each pair once."""
    seen: set[frozenset[str]] = set()

    def pair(a: str, b: str, note: str) -> Iterator[tuple[str, str, str]]:
        key = frozenset((a, b))
        if a != b and key not in seen:
            seen.add(key)
            yield a, b, note

    for i, a in enumerate(DEMO_PEOPLE):
        for b in DEMO_PEOPLE[i + 1:]:
            shared = {r.org for r in a.roles} & {r.org for r in b.roles}
            if shared:
                org = DEMO_ORGS[sorted(shared)[0]].name
                yield from pair(b.handle, a.handle, f"Good to be connected here too — {org}.")
            elif a.study and b.study and a.study.org == b.study.org and _overlap(a.study,
                                                                                 b.study):
                yield from pair(b.handle, a.handle, "Classmates!")
    for a_handle, b_handle, note in EXTRA_CONNECTIONS:
        yield from pair(a_handle, b_handle, note)


def _overlap(a: Study, b: Study) -> bool:
    return a.start <= (b.end or "9999") and b.start <= (a.end or "9999")


def seed_demo(replica: Replica, url: str, state_dir: Path,
              progress: Callable[[str], None] | None = None) -> DemoSocial:
    """Install the social canister on ``replica`` (served at ``url``) and seed the demo
    network's missing parts; see the module docstring.

    A recorded canister that the demo's admin does not control (``manage.py deploy
    social`` made it) is used as it is. Raises `icframework.compiler.app_build.BuildError`
    if the app does not build and `CanisterError` if a seeding call is rejected.
    """
    built = build_app(APP_DIR, pack_python_module,
                      cache_dir=Path(settings.BASE_DIR) / ".build" / "apps", progress=progress)
    admin = admin_identity(state_dir).principal
    canister, done = install_recorded(replica, url, APP_NAME, built.wasm, admin=admin,
                                      init_arg=_init_arg(built.did, admin),
                                      upgrade_arg=_init_arg(built.did, admin))
    users = {handle: i.principal for handle, i in demo_identities(state_dir).items()}
    demo = DemoSocial(canister, done, users, admin)
    seeder = _Seeder(TypedCaller(replica, canister, method_table(CANISTER_MODULE)), users,
                     progress or (lambda _line: None))
    seeder.people()
    seeder.organisations()
    seeder.histories()
    seeder.attestations()
    seeder.connections()
    seeder.follows()
    seeder.endorsements()
    seeder.recommendations()
    seeder.seed_groups()
    seeder.event()
    seeder.posts()
    seeder.jobs()
    demo.added = seeder.added
    return demo


def run_demo(replica: Replica, url: str, state_dir: Path,
             progress: Callable[[str], None] | None = None) -> list[str]:
    """`seed_demo` as ``runreplica --demo`` runs it (``ICFRAMEWORK["DEMO_SEEDERS"]``)."""
    demo = seed_demo(replica, url, state_dir, progress)
    added = "; added " + ", ".join(demo.added) if demo.added else "; nothing new to seed"
    return [
        f"  social:    {url}/social/",
        f"             canister {demo.canister_id.to_text()} ({demo.canister}{added})",
        f"             {len(DEMO_PEOPLE)} demo people (@alice, @bob, @carol as in the chat; "
        f"@ana, @ben, @cleo as in the market), {len(DEMO_ORGS)} organisations, "
        f"{len(DEMO_JOBS)} jobs, {len(DEMO_GROUPS)} groups",
        f"             controller and moderator: the demo admin {demo.admin.to_text()} "
        f"({admin_pem_path(state_dir)})",
    ]
