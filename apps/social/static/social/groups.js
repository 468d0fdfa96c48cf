// Groups and events: the groups list (mine first), a group's page (join or ask to join,
// members and roles, join requests for its owner and admins, posts inside the group with
// a composer, events with RSVP and attendee lists), and creating groups and events.

import { $, button, element, opt, plural, tagOf, timeOf, unopt, variant } from './dom.js';

const PAGE = 50;
const RSVP = [['going', 'Going'], ['interested', 'Interested'], ['not_going', 'Not going']];

export class Groups {
  constructor(app) {
    this.app = app;
  }

  get api() { return this.app.api; }

  bind() {
    this.app.onSubmit('#group-form', (form) => this.app.busy(form, async () => {
      const view = await this.api.create_group({
        name: form.name.value, description: form.about.value, policy: variant(form.open.checked ? 'open' : 'request'),
      });
      form.reset();
      location.hash = `group=${view.id}`;
    }));
  }

  async open(groupId) {
    const [mine, all] = await Promise.all([this.api.my_group_list(), this.api.list_groups([], PAGE)]);
    const seen = new Set();
    const list = $('#group-list');
    list.replaceChildren();
    for (const g of [...mine, ...all[0]]) {
      if (seen.has(String(g.id))) continue;
      seen.add(String(g.id));
      const role = unopt(g.my_role);
      list.append(element('li', { attrs: { 'data-group': String(g.id) } }, [
        element('a', { className: 'list-main', attrs: { href: `#group=${g.id}` } }, [
          element('strong', { className: 'list-title', text: g.name }),
          element('span', { className: 'list-sub', text: `${plural(g.member_count, 'member')} · ${tagOf(g.policy) === 'open' ? 'open' : 'by request'}` }),
        ]),
        role ? element('span', { className: 'badge badge-primary', text: tagOf(role) }) : null,
      ]));
    }
    if (!list.children.length) list.append(element('li', { className: 'muted small', text: 'No groups yet: start one.' }));
    if (groupId !== undefined) await this.show(groupId);
    else $('#group-detail').hidden = true;
    $('#groups').dataset.ready = 'true';
  }

  async show(groupId) {
    const g = await this.api.get_group(groupId);
    const role = unopt(g.my_role);
    const manager = role !== null && tagOf(role) !== 'member';
    const readable = role !== null || tagOf(g.policy) === 'open';
    const box = $('#group-detail');
    box.hidden = false;
    box.dataset.group = String(g.id);
    const refresh = () => this.show(g.id);
    const act = (label, work, className = 'btn-sm') => {
      const b = button(label, () => this.app.busy(b, async () => { await work(); await refresh(); }), { className });
      return b;
    };
    let membership;
    if (role !== null) membership = tagOf(role) === 'owner' ? null : act('Leave group', () => this.api.leave_group(g.id));
    else if (g.requested) membership = element('span', { className: 'badge badge-info', text: 'request sent' });
    else membership = act(tagOf(g.policy) === 'open' ? 'Join' : 'Ask to join', () => this.api.join_group(g.id), 'btn-sm btn-primary');
    const head = element('div', { className: 'card stack-sm' }, [
      element('h2', { text: g.name }),
      element('p', { className: 'small muted', text: `${plural(g.member_count, 'member')} · ${tagOf(g.policy) === 'open' ? 'anyone may join' : 'join by request'}${role ? ` · you are ${tagOf(role)}` : ''}` }),
      element('p', { className: 'prewrap', text: g.description }),
      element('div', { className: 'cluster' }, [membership]),
    ]);
    const parts = [head];
    if (manager && g.request_count > 0) parts.push(await this.requests(g, refresh));
    if (readable) {
      const [events, members, posts] = await Promise.all([
        this.api.group_events(g.id, 20), this.api.group_members(g.id, [], PAGE), this.api.group_posts(g.id, [], 20),
      ]);
      parts.push(this.eventsCard(g, events, manager, refresh));
      if (role !== null) parts.push(this.composer(g, refresh));
      const postList = element('ol', { className: 'post-list compact' });
      await this.app.feed.postsInto(postList, posts);
      parts.push(element('div', { className: 'card' }, [element('h3', { text: 'Posts' }), postList]));
      parts.push(element('div', { className: 'card' }, [element('h3', { text: 'Members' }),
        element('ul', { className: 'list' }, members.members.map((m) => element('li', {}, [
          element('a', { text: `@${unopt(m.member.handle) || m.member.principal.toText()}`, attrs: { href: `#profile=${m.member.principal.toText()}` } }),
          ' ', element('span', { className: 'badge', text: tagOf(m.role) }),
        ])))]));
    } else {
      parts.push(element('p', { className: 'card muted', text: 'Members read this group\'s posts and events: ask to join.' }));
    }
    box.replaceChildren(...parts);
  }

  async requests(g, refresh) {
    const [people] = await this.api.join_requests_of(g.id, [], PAGE);
    return element('div', { className: 'card' }, [element('h3', { text: 'Join requests' }),
      element('ul', { className: 'list' }, people.map((p) => {
        const user = p.principal;
        const name = unopt(p.handle) || user.toText();
        const answer = (accept) => {
          const b = button(accept ? 'Accept' : 'Decline', () => this.app.busy(b, async () => {
            await this.api.answer_join_request(g.id, user, accept);
            await refresh();
          }), { className: accept ? 'btn-sm btn-primary' : 'btn-sm' });
          return b;
        };
        return element('li', {}, [element('span', { className: 'list-main', text: `@${name}` }), answer(true), answer(false)]);
      }))]);
  }

  composer(g, refresh) {
    const form = element('form', { className: 'card stack-sm' }, [
      element('label', { className: 'field', text: 'Post in this group ' }, [
        element('textarea', { attrs: { name: 'text', rows: 2, maxlength: 3000, required: true } }),
      ]),
      element('button', { text: 'Post', attrs: { type: 'submit' } }),
    ]);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.app.busy(form, async () => {
        await this.api.create_post({ text: form.text.value, image_ids: [], audience: variant('public'), org_id: [], group_id: [g.id] });
        await refresh();
      });
    });
    return form;
  }

  eventsCard(g, events, manager, refresh) {
    const card = element('div', { className: 'card stack-sm' }, [element('h3', { text: 'Events' })]);
    const list = element('ul', { className: 'list' });
    for (const e of events) list.append(this.eventItem(e, refresh));
    if (!events.length) list.append(element('li', { className: 'muted small', text: 'No upcoming events.' }));
    card.append(list);
    if (manager) card.append(this.eventForm(g, refresh));
    return card;
  }

  eventItem(e, refresh) {
    const mine = unopt(e.my_rsvp);
    const li = element('li', { className: 'event', attrs: { 'data-event': String(e.id), 'data-rsvp': mine ? tagOf(mine) : '' } }, [
      element('div', { className: 'list-main' }, [
        element('strong', { className: 'list-title', text: e.title }),
        element('span', { className: 'list-sub', text: `${timeOf(e.starts_at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })} · ${e.location}` }),
        element('span', { className: 'small muted', text: `${e.going} going · ${e.interested} interested` }),
      ]),
    ]);
    const rsvp = element('div', { className: 'cluster', attrs: { role: 'group', 'aria-label': `RSVP to ${e.title}` } }, RSVP.map(([answer, label]) => {
      const pressed = mine !== null && tagOf(mine) === answer;
      const b = button(label, () => this.app.busy(b, async () => {
        await this.api.rsvp(e.id, pressed ? [] : [variant(answer)]);
        await refresh();
      }), { className: pressed ? 'btn-sm btn-primary' : 'btn-sm', attrs: { 'aria-pressed': String(pressed) } });
      return b;
    }));
    const attendees = element('ul', { className: 'cluster small attendees', attrs: { hidden: true } });
    const show = button('Attendees', () => this.app.busy(show, async () => {
      const page = await this.api.event_attendees(e.id, [], PAGE);
      attendees.replaceChildren(...page.attendees.map((a) => element('li', { className: 'badge', text: `@${unopt(a.attendee.handle) || a.attendee.principal.toText()} · ${tagOf(a.rsvp).replace('_', ' ')}` })));
      attendees.hidden = false;
    }), { className: 'btn-sm btn-ghost' });
    li.append(rsvp, show, attendees);
    return li;
  }

  eventForm(g, refresh) {
    const input = (name, attrs) => element('input', { attrs: { name, ...attrs } });
    const form = element('form', { className: 'stack-sm panel' }, [
      element('h4', { text: 'New event' }),
      element('label', { className: 'field', text: 'Title ' }, [input('title', { required: true, maxlength: 200 })]),
      element('label', { className: 'field', text: 'Where ' }, [input('location', { maxlength: 200 })]),
      element('div', { className: 'form-grid' }, [
        element('label', { className: 'field', text: 'Starts ' }, [input('starts', { type: 'datetime-local', required: true })]),
        element('label', { className: 'field', text: 'Ends ' }, [input('ends', { type: 'datetime-local', required: true })]),
      ]),
      element('button', { text: 'Create event', attrs: { type: 'submit' } }),
    ]);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.app.busy(form, async () => {
        const ns = (value) => BigInt(new Date(value).getTime()) * 1000000n;
        await this.api.create_event({
          title: form.title.value, description: '', location: form.location.value,
          starts_at: ns(form.starts.value), ends_at: ns(form.ends.value), group_id: opt(g.id),
        });
        await refresh();
      });
    });
    return form;
  }
}
