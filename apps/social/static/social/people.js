// Profiles and the network: a profile page (banner, avatar, headline, degree, open to
// work, about, experience with verified attested roles, education, endorsable skills,
// recommendations asked for, written and answered, activity) with connect / follow /
// block / message actions; who endorsed a skill; revoking an attested role (its member
// or an admin of its organisation); the profile editor (fields, pictures uploaded in
// chunks with progress, experience and education entries, skills, section
// visibility); the network page (invitations with notes, sent requests, connections,
// people you may know with dismiss, the people you blocked with unblock).

import {
  $, $$, avatar, button, degreeLabel, element, opt, plural, richText, tagOf, unopt, variant,
} from './dom.js';
import { verifyAttestation } from './attest.js';

const PAGE = 50;
const SECTIONS = ['about', 'links', 'experience', 'education', 'skills', 'connections', 'posts'];
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

// What makes a self-declared position and an attested role the same one.
const entryKey = (title, organisation) => `${title.trim().toLowerCase()}\n${organisation.trim().toLowerCase()}`;

export class People {
  constructor(app) {
    this.app = app;
    this.shown = null;     // the ProfileView on screen
  }

  get api() { return this.app.api; }

  bind() {
    this.app.onSubmit('#request-form', (form) => this.app.busy(form, async () => {
      const connected = await this.api.send_request(this.shown.user, form.note.value);
      form.reset();
      form.hidden = true;
      this.app.toast(connected ? 'You are connected.' : 'Request sent.');
      await this.openProfile(this.shown.user.toText());
    }));
    $('#request-form .close').addEventListener('click', () => { $('#request-form').hidden = true; });
    this.app.onSubmit('#recommend-form', (form) => this.app.busy(form, async () => {
      await this.api.write_recommendation(this.shown.user, form.relationship.value, form.text.value);
      form.reset();
      this.app.toast('Recommendation sent: it shows once they accept it.');
    }));
    this.app.onSubmit('#ask-recommendation-form', (form) => this.app.busy(form, async () => {
      await this.api.request_recommendation(this.shown.user, form.note.value);
      form.reset();
      this.app.toast(`Asked @${this.shown.handle} for a recommendation.`);
    }));
    this.app.onSubmit('#profile-editor', (form) => this.app.busy(form, () => this.save(form)));
    $('#profile-editor .close').addEventListener('click', () => { $('#profile-editor').hidden = true; });
    for (const add of document.querySelectorAll('[data-add]')) {
      add.addEventListener('click', () => {
        const list = $(`#edit-${add.dataset.add}`);
        list.append(this.entryEditor(add.dataset.add, null));
        list.lastElementChild.querySelector('input').focus();
      });
    }
  }

  // -- the profile page ----------------------------------------------------------------------

  async openProfile(who, nav) {
    const view = unopt(await this.api.profile(who));
    if (!this.app.isCurrent(nav)) return;
    if (!view) throw new Error(`no profile ${who} to show (unknown, or blocked)`);
    this.shown = view;
    const own = view.user.toText() === this.app.principal.toText();
    if (own) this.app.me = view;
    $('#profile-editor').hidden = true;
    $('#request-form').hidden = true;
    const banner = $('#profile-banner');
    banner.replaceChildren();
    const bannerPath = unopt(view.banner);
    if (bannerPath) banner.append(element('img', { attrs: { src: this.app.imageUrl(bannerPath), alt: '' } }));
    $('#profile-avatar').replaceWith(Object.assign(
      avatar(view.name, this.app.imageUrl(unopt(view.avatar)), 'avatar-lg profile-avatar'), { id: 'profile-avatar' }));
    $('#profile-name').textContent = view.name;
    $('#profile-headline').textContent = view.headline;
    $('#profile-handle').textContent = `@${view.handle}`;
    $('#profile-location').textContent = view.location ? `· ${view.location}` : '';
    $('#profile-degree').textContent = own ? 'you' : degreeLabel(view.degree);
    $('#profile-degree').dataset.degree = String(view.degree);
    $('#profile-open').hidden = !view.open_to_work;
    const connections = unopt(view.connection_count);
    $('#profile-counts').textContent = [
      connections === null ? null : plural(connections, 'connection'),
      plural(view.follower_count, 'follower'),
      own || !view.mutual_count ? null : plural(view.mutual_count, 'mutual connection'),
    ].filter(Boolean).join(' · ');
    $('#profile-actions').replaceChildren(...this.actions(view, own));
    this.renderAbout(view);
    this.renderSkills(view, own);
    $('#profile-education').replaceChildren(...this.entries(unopt(view.education), 'education'));
    $('#profile-experience').replaceChildren(...this.entries(unopt(view.experience), 'experience'));
    $('#recommend-form').hidden = own || tagOf(view.relation) !== 'connected';
    $('#ask-recommendation-form').hidden = own || tagOf(view.relation) !== 'connected';
    await Promise.all([
      this.app.guard(() => this.attestations(view)),
      this.app.guard(() => this.recommendations(view, own)),
      this.app.guard(() => this.activity(view)),
    ]);
    $('#profile').dataset.ready = 'true';
    $('#profile').dataset.user = view.user.toText();
  }

  actions(view, own) {
    if (own) return [button('Edit profile', () => this.edit(), { className: 'btn-primary' })];
    const relation = tagOf(view.relation);
    const user = view.user;
    const refresh = () => this.openProfile(user.toText());
    const act = (label, work, className = 'btn-sm') => {
      const b = button(label, () => this.app.busy(b, async () => { await work(); await refresh(); }), { className });
      return b;
    };
    const out = [];
    if (relation === 'none' && view.can_request) {
      out.push(button('Connect', () => { $('#request-form').hidden = false; $('#request-form [name=note]').focus(); }, { className: 'btn-primary' }));
    }
    if (relation === 'request_received') {
      out.push(act('Accept', () => this.api.accept_request(user), 'btn-primary'));
      out.push(act('Decline', () => this.api.decline_request(user)));
    }
    if (relation === 'request_sent') out.push(act('Withdraw request', () => this.api.withdraw_request(user)));
    if (relation === 'connected') out.push(act('Remove connection', () => this.api.remove_connection(user), 'btn-sm btn-ghost'));
    out.push(view.following
      ? act('Unfollow', () => this.api.unfollow(user))
      : act('Follow', () => this.api.follow(user)));
    if (this.app.config.chatUrl) {
      out.push(element('a', {
        className: 'btn btn-secondary', text: 'Message',
        attrs: { href: `${this.app.config.chatUrl}?dm=${encodeURIComponent(user.toText())}` },
      }));
    }
    const block = button('Block', () => this.app.busy(block, async () => {
      await this.api.block(user);
      this.app.toast(`You blocked @${view.handle}.`);
      location.hash = '';
      await this.app.open('network');
    }), { className: 'btn-sm btn-ghost' });
    out.push(block);
    out.push(button('Report', () => this.app.feed.reportForm(
      (reason) => this.api.report('user', user.toText(), reason), $('.profile-card')), { className: 'btn-sm btn-ghost' }));
    return out;
  }

  renderAbout(view) {
    const about = unopt(view.about);
    $('#profile-about').textContent = about === null ? 'Visible to connections only.' : (about || 'Nothing here yet.');
    const links = unopt(view.links) || [];
    $('#profile-links').replaceChildren(...links.map((url) => element('li', {}, [
      /^https?:\/\//.test(url)
        ? element('a', { text: url, attrs: { href: url, rel: 'noopener noreferrer nofollow', target: '_blank' } })
        : element('span', { text: url }),
    ])));
  }

  renderSkills(view, own) {
    const skills = unopt(view.skills);
    const list = $('#profile-skills');
    if (skills === null) { list.replaceChildren(element('li', { className: 'muted small', text: 'Visible to connections only.' })); return; }
    const connected = tagOf(view.relation) === 'connected';
    list.replaceChildren(...skills.map((skill) => {
      const li = element('li', { className: 'skill', attrs: { 'data-skill': skill.name } }, [
        element('span', { className: 'list-main', text: skill.name }),
      ]);
      const who = element('ul', { className: 'list endorsers', attrs: { hidden: true } });
      const count = skill.endorsements > 0
        ? button(plural(skill.endorsements, 'endorsement'), () => this.app.busy(count, () => this.endorsers(view, skill, who, count)),
          { className: 'badge btn-link endorsement-count', attrs: { 'aria-expanded': 'false' } })
        : element('span', { className: 'badge endorsement-count', text: plural(skill.endorsements, 'endorsement') });
      li.append(count);
      if (!own && connected) {
        const b = button(skill.endorsed_by_me ? 'Endorsed ✓' : 'Endorse', () => this.app.busy(b, async () => {
          if (skill.endorsed_by_me) await this.api.unendorse(view.user, skill.name);
          else await this.api.endorse(view.user, skill.name);
          await this.openProfile(view.user.toText());
        }), { attrs: { 'aria-pressed': String(skill.endorsed_by_me) } });
        li.append(b);
      }
      li.append(who);
      return li;
    }));
    if (!skills.length) list.append(element('li', { className: 'muted small', text: 'No skills listed.' }));
  }

  // Who endorsed `skill` (shown under it; a second click hides them).
  async endorsers(view, skill, list, toggle) {
    if (!list.hidden) {
      list.hidden = true;
      toggle.setAttribute('aria-expanded', 'false');
      return;
    }
    const people = await this.api.endorsers(view.user, skill.name);
    list.replaceChildren(...people.map((p) => element('li', {}, [this.app.personLink(p)])));
    if (!people.length) list.append(element('li', { className: 'muted small', text: 'No endorsements you can see.' }));
    list.hidden = false;
    toggle.setAttribute('aria-expanded', 'true');
  }

  entries(list, kind) {
    if (list === null) return [element('li', { className: 'muted small', text: 'Visible to connections only.' })];
    if (!list.length) return [element('li', { className: 'muted small', text: `No ${kind} listed.` })];
    return list.map((e) => element('li', { className: 'entry', attrs: { 'data-key': kind === 'experience' ? entryKey(e.title, e.organisation) : '' } }, [
      element('div', { className: 'list-main' }, [
        element('strong', { className: 'list-title', text: kind === 'experience' ? e.title : e.school }),
        element('span', { className: 'list-sub', text: kind === 'experience' ? e.organisation : e.degree }),
        element('span', { className: 'small muted', text: `${e.start} – ${unopt(e.end) || 'present'}` }),
        e.description ? element('p', { className: 'small prewrap', text: e.description }) : null,
      ]),
    ]));
  }

  // The attested roles, each checked against the replica's certificate before its badge.
  async attestations(view) {
    const [attested, mine] = await Promise.all([this.api.attestations_of(view.user), this.api.my_orgs()]);
    const proofs = await Promise.all(attested.map((a) => this.api.certified_attestation(a.id)));
    // The member and the organisation's admins may revoke a role.
    const me = this.app.principal.toText();
    const administered = new Set(mine.filter((o) => o.is_admin).map((o) => String(o.org.id)));
    const items = await Promise.all(proofs.map((proof) => this.attestationItem(proof,
      proof.attestation.member.toText() === me || administered.has(String(proof.attestation.org_id)))));
    const list = $('#profile-experience');
    if (!items.length) return;
    for (const empty of list.querySelectorAll('.muted')) empty.remove();
    // A self-declared entry the organisation attested shows once: as the attested role,
    // with the entry's description.
    for (const item of items) {
      const twin = [...list.querySelectorAll('li.entry:not(.attested)')].find(
        (li) => li.dataset.key === item.dataset.key);
      if (twin) {
        const description = twin.querySelector('p');
        if (description) item.querySelector('.list-main').append(description);
        twin.remove();
      }
    }
    list.prepend(...items);
  }

  // An attested role with its badge: "✓ Verified" only when `proof` checks out; with a
  // revoke button when `revocable`.
  async attestationItem(proof, revocable = false) {
    const a = proof.attestation;
    const badge = element('span', { className: 'badge attest-badge', text: 'checking…', attrs: { 'data-verified': 'pending' } });
    const li = element('li', {
      className: 'entry attested', attrs: { 'data-attestation': String(a.id), 'data-key': entryKey(a.title, a.org_name) },
    }, [
      element('div', { className: 'list-main' }, [
        element('strong', { className: 'list-title', text: a.title }),
        element('a', { className: 'list-sub', text: a.org_name, attrs: { href: `#org=${a.org_id}` } }),
        element('span', { className: 'small muted', text: `${a.start} – ${unopt(a.end) || 'present'} · attested by the organisation` }),
      ]),
      badge,
    ]);
    if (revocable) {
      const revoke = button('Revoke', () => this.app.busy(revoke, async () => {
        await this.api.revoke_attestation(a.id);
        this.app.toast(`The attested role ${a.title} at ${a.org_name} is revoked.`);
        await this.openProfile(a.member.toText());
      }), { className: 'btn-sm btn-ghost revoke', attrs: { 'aria-label': `Revoke the attested role ${a.title}` } });
      li.append(revoke);
    }
    let ok = false;
    try {
      ok = await verifyAttestation(this.app.agent, this.app.canisterId, proof);
    } catch (error) {
      ok = false;  // a certificate that does not verify: no badge
    }
    badge.dataset.verified = ok ? 'yes' : 'no';
    badge.textContent = ok ? '✓ Verified' : 'not verified';
    badge.className = `badge attest-badge ${ok ? 'badge-success' : 'badge-warning'}`;
    badge.title = ok
      ? 'This role is in the canister\'s certified data, checked in this browser against the replica\'s certificate'
      : 'The proof did not check out against the replica\'s certificate';
    return li;
  }

  async recommendations(view, own) {
    const list = $('#profile-recommendations');
    const given = await this.api.recommendations_of(view.user);
    const shown = given.filter((r) => tagOf(r.status) === 'accepted');
    list.replaceChildren(...shown.map((r) => element('li', { className: 'recommendation' }, [
      this.app.personLink(r.author),
      element('p', { className: 'small muted', text: r.relationship }),
      richText(r.text),
    ])));
    if (!shown.length) list.append(element('li', { className: 'muted small', text: 'No recommendations yet.' }));
    const pending = $('#pending-recommendations');
    pending.hidden = true;
    $('#requested-recommendations').hidden = true;
    $('#asked-recommendations').hidden = true;
    if (!own) return;
    const me = this.app.principal.toText();
    const everything = await this.api.my_recommendations();
    this.requested(everything.filter((r) => tagOf(r.status) === 'requested'), me);
    const waiting = everything.filter(
      (r) => tagOf(r.status) === 'pending' && r.subject.user.toText() === me);
    pending.hidden = waiting.length === 0;
    $('ul', pending).replaceChildren(...waiting.map((r) => {
      const li = element('li', { className: 'recommendation', attrs: { 'data-recommendation': String(r.id) } }, [
        this.app.personLink(r.author), element('p', { className: 'small muted', text: r.relationship }), richText(r.text),
      ]);
      const answer = (accept) => button(accept ? 'Show on my profile' : 'Decline', () => this.app.busy(li, async () => {
        if (accept) await this.api.accept_recommendation(r.id);
        else await this.api.decline_recommendation(r.id);
        await this.openProfile(me);
      }), { className: accept ? 'btn-sm btn-primary' : 'btn-sm' });
      li.append(element('div', { className: 'cluster' }, [answer(true), answer(false)]));
      return li;
    }));
  }

  // Requests for a recommendation: asked of the caller (write it, or decline) and asked
  // by the caller (waiting for the author).
  requested(requests, me) {
    const ofMe = requests.filter((r) => r.author.user.toText() === me);
    const byMe = requests.filter((r) => r.subject.user.toText() === me);
    const asked = $('#requested-recommendations');
    asked.hidden = ofMe.length === 0;
    $('ul', asked).replaceChildren(...ofMe.map((r) => {
      const li = element('li', { className: 'recommendation', attrs: { 'data-recommendation': String(r.id) } }, [
        this.app.personLink(r.subject),
        r.request_note ? element('p', { className: 'small request-note', text: `“${r.request_note}”` }) : null,
      ]);
      const form = element('form', { className: 'stack-sm write-requested' }, [
        element('label', { className: 'field', text: 'How you know them ' }, [
          element('input', { attrs: { name: 'relationship', maxlength: 200, required: true, autocomplete: 'off' } })]),
        element('label', { className: 'field', text: 'Your recommendation ' }, [
          element('textarea', { attrs: { name: 'text', rows: 3, maxlength: 3000, required: true } })]),
        element('div', { className: 'cluster' }, [
          element('button', { text: 'Write recommendation', attrs: { type: 'submit' } }),
          button('Decline', () => this.app.busy(form, async () => {
            await this.api.decline_recommendation(r.id);
            li.remove();
            asked.hidden = $$('li', asked).length === 0;
          }), { className: 'btn-sm btn-ghost' }),
        ]),
      ]);
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        this.app.busy(form, async () => {
          await this.api.write_recommendation(r.subject.user, form.relationship.value, form.text.value);
          this.app.toast(`Recommendation sent to @${r.subject.handle}: it shows once they accept it.`);
          li.remove();
          asked.hidden = $$('li', asked).length === 0;
        });
      });
      li.append(form);
      return li;
    }));
    const mine = $('#asked-recommendations');
    mine.hidden = byMe.length === 0;
    $('ul', mine).replaceChildren(...byMe.map((r) => element('li', {
      className: 'recommendation', attrs: { 'data-recommendation': String(r.id) },
    }, [this.app.personLink(r.author), element('p', { className: 'small muted', text: 'asked, not written yet' })])));
  }

  async activity(view) {
    const page = await this.api.user_posts(view.user, [], 10);
    await this.app.feed.postsInto($('#profile-posts'), page);
  }

  // -- the editor ----------------------------------------------------------------------------

  async edit() {
    const me = this.app.me;
    const form = $('#profile-editor');
    for (const name of ['name', 'headline', 'location']) form[name].value = me[name];
    form.about.value = unopt(me.about) || '';
    form.links.value = (unopt(me.links) || []).join('\n');
    form.open_to_work.checked = me.open_to_work;
    form.skills.value = (unopt(me.skills) || []).map((s) => s.name).join(', ');
    $('#edit-experience').replaceChildren(...(unopt(me.experience) || []).map((e) => this.entryEditor('experience', e)));
    $('#edit-education').replaceChildren(...(unopt(me.education) || []).map((e) => this.entryEditor('education', e)));
    const privacy = await this.api.my_privacy();
    const box = $('#edit-visibility');
    box.replaceChildren(element('legend', { text: 'Who sees each section' }));
    for (const section of SECTIONS) {
      const select = element('select', { attrs: { name: `vis_${section}` } }, [
        element('option', { text: 'everyone', attrs: { value: 'public' } }),
        element('option', { text: 'connections only', attrs: { value: 'connections' } }),
      ]);
      select.value = tagOf(privacy[section]);
      box.append(element('label', { className: 'field field-inline', text: `${section} ` }, [select]));
    }
    const requests = element('select', { attrs: { name: 'vis_requests' } }, ['everyone', 'mutuals', 'nobody'].map(
      (v) => element('option', { text: v === 'mutuals' ? 'people with a connection in common' : v, attrs: { value: v } })));
    requests.value = tagOf(privacy.requests);
    box.append(element('label', { className: 'field field-inline', text: 'connection requests from ' }, [requests]));
    form.hidden = false;
    form.name.focus();
  }

  entryEditor(kind, entry) {
    const work = kind === 'experience';
    const input = (name, label, value, attrs = {}) => element('label', { className: 'field', text: label }, [
      element('input', { attrs: { name, value: value || '', maxlength: 200, ...attrs } }),
    ]);
    const li = element('li', { className: 'card entry-editor', attrs: { 'data-kind': kind } }, [
      element('div', { className: 'form-grid' }, [
        input(work ? 'title' : 'degree', work ? 'Title' : 'Degree', entry && (work ? entry.title : entry.degree), { required: true }),
        input(work ? 'organisation' : 'school', work ? 'Organisation' : 'School', entry && (work ? entry.organisation : entry.school), { required: true }),
        input('start', 'From (YYYY-MM)', entry && entry.start, { required: true, pattern: '\\d{4}-\\d{2}', placeholder: '2020-01' }),
        input('end', 'To (YYYY-MM, empty: present)', entry && unopt(entry.end), { pattern: '\\d{4}-\\d{2}', placeholder: 'present' }),
      ]),
      element('label', { className: 'field', text: 'Description' }, [
        element('textarea', { text: entry ? entry.description : '', attrs: { name: 'description', rows: 2, maxlength: 2000 } }),
      ]),
    ]);
    li.dataset.orgId = entry && unopt(entry.org_id) !== null ? String(unopt(entry.org_id)) : '';
    const up = button('↑', () => { if (li.previousElementSibling) li.previousElementSibling.before(li); }, { attrs: { 'aria-label': 'Move up' } });
    const remove = button('Remove', () => li.remove(), { className: 'btn-sm btn-ghost' });
    li.append(element('div', { className: 'cluster' }, [up, remove]));
    return li;
  }

  readEntries(kind) {
    return [...document.querySelectorAll(`#edit-${kind} > li`)].map((li) => {
      const value = (name) => li.querySelector(`[name=${name}]`).value.trim();
      for (const name of ['start', 'end']) {
        const v = value(name);
        if (v && !MONTH.test(v)) throw new Error(`${kind} dates are YYYY-MM, not ${JSON.stringify(v)}`);
      }
      const orgId = li.dataset.orgId ? [BigInt(li.dataset.orgId)] : [];
      const common = { org_id: orgId, start: value('start'), end: opt(value('end')), description: value('description') };
      return kind === 'experience'
        ? { title: value('title'), organisation: value('organisation'), ...common }
        : { school: value('school'), degree: value('degree'), ...common };
    });
  }

  async save(form) {
    const experience = this.readEntries('experience');
    const education = this.readEntries('education');
    const progress = $('#upload-progress');
    await this.api.update_profile({
      name: form.name.value, headline: form.headline.value, about: form.about.value,
      location: form.location.value, open_to_work: form.open_to_work.checked,
      links: form.links.value.split('\n').map((l) => l.trim()).filter(Boolean),
    });
    await this.api.set_experience(experience);
    await this.api.set_education(education);
    await this.api.set_skills(form.skills.value.split(',').map((s) => s.trim()).filter(Boolean));
    const privacy = {};
    for (const section of SECTIONS) privacy[section] = variant(form[`vis_${section}`].value);
    privacy.requests = variant(form.vis_requests.value);
    await this.api.set_privacy(privacy);
    for (const kind of ['avatar', 'banner']) {
      const file = form[kind].files[0];
      if (file) {
        await this.app.upload(file, progress, {
          begin: (type, size) => this.api.begin_profile_image(variant(kind), type, size),
          chunk: (id, n, bytes) => this.api.upload_profile_image_chunk(id, n, bytes),
          finish: (id) => this.api.commit_profile_image(id),
        });
      }
    }
    form.hidden = true;
    form.avatar.value = '';
    form.banner.value = '';
    this.app.toast('Profile saved.');
    await this.openProfile(this.app.principal.toText());
  }

  // -- the network page ----------------------------------------------------------------------

  async openNetwork() {
    const [incoming, outgoing, connections, blocked] = await Promise.all([
      this.api.incoming_requests(), this.api.outgoing_requests(),
      this.api.connections_of(this.app.principal, [], PAGE), this.api.blocked(),
    ]);
    $('#incoming').replaceChildren(...incoming.map((r) => this.requestItem(r, true)));
    $('#incoming-empty').hidden = incoming.length > 0;
    $('#outgoing').replaceChildren(...outgoing.map((r) => this.requestItem(r, false)));
    $('#connections').replaceChildren(...connections.people.map((p) => element('li', {}, [this.app.personLink(p)])));
    $('#connection-count').textContent = String(connections.people.length) + (unopt(connections.next) !== null ? '+' : '');
    $('#blocked').replaceChildren(...blocked.map((p) => this.blockedItem(p)));
    $('#blocked-empty').hidden = blocked.length > 0;
    await this.pymk($('#pymk'), 12, true);
    $('#network').dataset.ready = 'true';
  }

  requestItem(request, incoming) {
    const user = request.user.user;
    const li = element('li', { className: 'request', attrs: { 'data-user': user.toText() } }, [
      this.app.personLink(request.user),
      request.note ? element('p', { className: 'small request-note', text: `“${request.note}”` }) : null,
    ]);
    const act = (label, work, className = 'btn-sm') => {
      const b = button(label, () => this.app.busy(b, async () => { await work(); await this.openNetwork(); }), { className });
      return b;
    };
    li.append(element('div', { className: 'cluster' }, incoming
      ? [act('Accept', () => this.api.accept_request(user), 'btn-sm btn-primary'), act('Decline', () => this.api.decline_request(user))]
      : [act('Withdraw', () => this.api.withdraw_request(user))]));
    return li;
  }

  blockedItem(person) {
    const li = element('li', { className: 'blocked', attrs: { 'data-user': person.user.toText() } }, [this.app.personLink(person)]);
    const unblock = button('Unblock', () => this.app.busy(unblock, async () => {
      await this.api.unblock(person.user);
      this.app.toast(`You unblocked @${person.handle}.`);
      li.remove();
      $('#blocked-empty').hidden = $('#blocked').children.length > 0;
    }), { className: 'btn-sm', attrs: { 'aria-label': `Unblock @${person.handle}` } });
    li.append(unblock);
    return li;
  }

  async sidePymk() {
    await this.app.guard(() => this.pymk($('#side-pymk'), 5, false));
  }

  // People you may know: why (mutual connections, shared organisations and skills), with
  // connect and dismiss.
  async pymk(list, limit, cards) {
    const suggestions = (await this.api.people_you_may_know()).slice(0, limit);
    list.replaceChildren(...suggestions.map((s) => {
      const why = [
        s.mutual ? plural(s.mutual, 'mutual connection') : null,
        s.shared_orgs ? plural(s.shared_orgs, 'shared organisation') : null,
        s.shared_skills ? plural(s.shared_skills, 'shared skill') : null,
      ].filter(Boolean).join(' · ');
      const li = element('li', { className: cards ? 'card person-card' : 'suggestion', attrs: { 'data-user': s.person.user.toText() } });
      const connect = button('Connect', () => this.app.busy(connect, async () => {
        await this.api.send_request(s.person.user, '');
        li.remove();
        this.app.toast(`Request sent to @${s.person.handle}.`);
      }), { className: 'btn-sm btn-primary' });
      const dismiss = button('Dismiss', () => this.app.busy(dismiss, async () => {
        await this.api.dismiss_suggestion(s.person.user);
        li.remove();
      }), { className: 'btn-sm btn-ghost', attrs: { 'aria-label': `Dismiss @${s.person.handle}` } });
      li.append(this.app.personLink(s.person), element('p', { className: 'small muted', text: why }),
        element('div', { className: 'cluster' }, [connect, dismiss]));
      return li;
    }));
    if (!suggestions.length) list.append(element('li', { className: 'muted small', text: 'No suggestions right now.' }));
  }
}
