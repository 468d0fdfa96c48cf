// Jobs and organisations: job search with filters, a job's page with "apply with a
// note", the applicant's own applications and their stage (withdrawn by the applicant);
// for an organisation's admins the applicants of each job, stage moves and closing or
// reopening the job. Organisation pages: follow, admins, posts,
// jobs, and for admins posting jobs, adding admins and attesting a member's role.

import { $, button, element, opt, plural, tagOf, timeElement, unopt, variant } from './dom.js';

const PAGE = 30;
const SENIORITY = ['intern', 'entry', 'mid', 'senior', 'lead', 'executive'];
const WORKPLACES = ['onsite', 'hybrid', 'remote'];
const STAGES = ['applied', 'reviewing', 'interview', 'offer', 'rejected'];

function salaryText(salary) {
  const s = unopt(salary);
  return s ? `${s.min.toLocaleString()}–${s.max.toLocaleString()} ${s.currency} a year` : '';
}

function field(label, control) {
  return element('label', { className: 'field', text: `${label} ` }, [control]);
}

function select(name, values, { any } = {}) {
  return element('select', { attrs: { name } }, [
    any ? element('option', { text: any, attrs: { value: '' } }) : null,
    ...values.map((v) => element('option', { text: v, attrs: { value: v } })),
  ]);
}

export class Work {
  constructor(app) {
    this.app = app;
    this.org = null;     // the OrgView on screen
  }

  get api() { return this.app.api; }

  bind() {
    const seniority = $('#job-search [name=seniority]');
    for (const s of SENIORITY) seniority.append(element('option', { text: s, attrs: { value: s } }));
    this.app.onSubmit('#job-search', (form) => this.app.busy(form, () => this.listJobs(form)));
    this.app.onSubmit('#org-form', (form) => this.app.busy(form, async () => {
      const view = await this.api.create_org({
        name: form.name.value, kind: variant(form.kind.value), about: form.about.value, website: '', location: '',
      });
      form.reset();
      location.hash = `org=${view.org.id}`;
    }));
  }

  // -- jobs ------------------------------------------------------------------------------------

  findJobs({ words = '', workplace = null, seniority = null, skill = null }) {
    return this.api.search_jobs({
      words, org_id: [], workplace: workplace ? [variant(workplace)] : [],
      seniority: seniority ? [variant(seniority)] : [], skill: opt(skill), min_salary: [], include_closed: false,
    }, [], PAGE);
  }

  async openJobs(jobId) {
    await Promise.all([this.listJobs($('#job-search')), this.myApplications()]);
    if (jobId !== undefined) await this.showJob(jobId);
    else $('#job-detail').hidden = true;
    $('#jobs').dataset.ready = 'true';
  }

  async listJobs(form) {
    const words = [form.q.value, form.location.value].filter(Boolean).join(' ');
    const page = await this.findJobs({
      words, seniority: form.seniority.value || null, workplace: form.remote.checked ? 'remote' : null,
    });
    const list = $('#job-list');
    list.replaceChildren(...page.jobs.map((j) => this.jobItem(j)));
    if (!page.jobs.length) list.append(element('li', { className: 'muted small', text: 'No job matches.' }));
  }

  jobItem(view) {
    const job = view.job;
    const link = element('a', { className: 'list-main', attrs: { href: `#job=${job.id}` } }, [
      element('strong', { className: 'list-title', text: job.title }),
      element('span', { className: 'list-sub', text: `${view.org_name} · ${job.location} · ${tagOf(job.workplace)} · ${tagOf(job.seniority)}` }),
    ]);
    return element('li', { className: 'job', attrs: { 'data-job': String(job.id), 'data-open': String(job.open) } }, [
      link, view.applied ? element('span', { className: 'badge badge-info', text: 'applied' }) : null,
      job.open ? null : element('span', { className: 'badge', text: 'closed' }),
    ]);
  }

  async showJob(jobId) {
    const view = unopt(await this.api.job(jobId));
    if (!view) throw new Error(`no job ${jobId} (it may have been removed)`);
    const job = view.job;
    const box = $('#job-detail');
    box.hidden = false;
    box.dataset.job = String(job.id);
    box.dataset.open = String(job.open);
    box.replaceChildren(
      element('h2', { text: job.title }),
      element('p', {}, [element('a', { text: view.org_name, attrs: { href: `#org=${job.org_id}` } }),
        ` · ${job.location} · ${tagOf(job.workplace)} · ${tagOf(job.seniority)}`]),
      salaryText(job.salary) ? element('p', { className: 'small', text: salaryText(job.salary) }) : null,
      element('p', { className: 'prewrap', text: job.description }),
      element('ul', { className: 'cluster small' }, job.skills.map((s) => element('li', { className: 'badge', text: s }))),
      element('p', { className: 'small muted' }, [`${plural(job.applicant_count, 'applicant')} · posted `, timeElement(job.created_at),
        job.open ? '' : ' · closed']),
    );
    if (view.applied) {
      box.append(element('p', { className: 'alert alert-info', text: 'You applied: your application\'s stage is under My applications.' }));
    } else if (job.open && !view.can_manage) {
      const form = element('form', { className: 'stack-sm apply-form' }, [
        field('A note to the hiring team', element('textarea', { attrs: { name: 'note', rows: 3, maxlength: 2000, placeholder: 'Why you and this job fit' } })),
        element('button', { className: 'btn-primary', text: 'Apply with my profile', attrs: { type: 'submit' } }),
      ]);
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        this.app.busy(form, async () => {
          await this.api.apply(job.id, form.note.value);
          this.app.toast(`You applied to ${job.title}.`);
          await this.openJobs(job.id);
        });
      });
      box.append(form);
    }
    if (view.can_manage) {
      const toggle = button(job.open ? 'Close job' : 'Reopen job', () => this.app.busy(toggle, async () => {
        const changed = await this.api.set_job_open(job.id, !job.open);
        this.app.toast(changed.job.open ? `${job.title} is open again.` : `${job.title} is closed to new applications.`);
        await this.showJob(job.id);
      }), { className: 'btn-sm job-open-toggle' });
      box.append(element('div', { className: 'cluster' }, [toggle]));
      await this.applicants(job, box);
    }
  }

  // The job's applicants, for its organisation's admins, with stage moves.
  async applicants(job, box) {
    const list = element('ul', { className: 'list applicants' });
    const apps = await this.api.applicants(job.id, []);
    for (const a of apps) {
      const stage = select('stage', STAGES);
      stage.value = tagOf(a.stage);
      stage.setAttribute('aria-label', `Stage of @${a.applicant.handle}`);
      const li = element('li', { className: 'applicant', attrs: { 'data-application': String(a.id), 'data-stage': tagOf(a.stage) } }, [
        this.app.personLink(a.applicant),
        a.note ? element('p', { className: 'small', text: `“${a.note}”` }) : null,
        stage,
      ]);
      stage.addEventListener('change', () => this.app.busy(li, async () => {
        const moved = await this.api.set_stage(a.id, variant(stage.value));
        li.dataset.stage = tagOf(moved.stage);
        this.app.toast(`@${a.applicant.handle} is now at ${tagOf(moved.stage)}.`);
      }));
      list.append(li);
    }
    box.append(element('h3', { text: `Applicants (${apps.length})` }), list);
  }

  async myApplications() {
    const mine = await this.api.my_applications();
    const list = $('#my-applications');
    list.replaceChildren(...mine.map((a) => {
      const stage = tagOf(a.stage);
      const li = element('li', {
        className: 'application', attrs: { 'data-application': String(a.id), 'data-stage': stage },
      }, [
        element('a', { className: 'list-main', attrs: { href: `#job=${a.job_id}` } }, [
          element('strong', { className: 'list-title', text: a.job_title }),
          element('span', { className: 'list-sub', text: a.org_name }),
        ]),
        element('span', { className: `badge stage stage-${stage}`, text: stage }),
      ]);
      if (stage !== 'withdrawn' && stage !== 'rejected') {
        const withdraw = button('Withdraw', () => this.app.busy(withdraw, async () => {
          await this.api.withdraw_application(a.id);
          this.app.toast(`You withdrew your application to ${a.job_title}.`);
          await this.myApplications();
        }), { className: 'btn-sm btn-ghost', attrs: { 'aria-label': `Withdraw the application to ${a.job_title}` } });
        li.append(withdraw);
      }
      return li;
    }));
    if (!mine.length) list.append(element('li', { className: 'muted small', text: 'No applications yet.' }));
  }

  // -- organisations ---------------------------------------------------------------------------

  async openOrgs(orgId) {
    const [mine, found] = await Promise.all([this.api.my_orgs(), this.api.find_orgs('', PAGE)]);
    const seen = new Set();
    const list = $('#org-list');
    list.replaceChildren();
    for (const view of [...mine, ...found]) {
      if (seen.has(String(view.org.id))) continue;
      seen.add(String(view.org.id));
      list.append(element('li', { attrs: { 'data-org': String(view.org.id) } }, [
        element('a', { className: 'list-main', attrs: { href: `#org=${view.org.id}` } }, [
          element('strong', { className: 'list-title', text: view.org.name }),
          element('span', { className: 'list-sub', text: `${tagOf(view.org.kind)} · ${plural(view.org.follower_count, 'follower')}` }),
        ]),
        view.is_admin ? element('span', { className: 'badge badge-primary', text: 'admin' }) : null,
      ]));
    }
    if (orgId !== undefined) await this.showOrg(orgId);
    else $('#org-detail').hidden = true;
    $('#orgs').dataset.ready = 'true';
  }

  async showOrg(orgId) {
    const view = unopt(await this.api.org(orgId));
    if (!view) throw new Error(`no organisation ${orgId}`);
    this.org = view;
    const org = view.org;
    const box = $('#org-detail');
    box.hidden = false;
    box.dataset.org = String(org.id);
    const follow = button(view.following ? 'Unfollow' : 'Follow', () => this.app.busy(follow, async () => {
      if (view.following) await this.api.unfollow_org(org.id); else await this.api.follow_org(org.id);
      await this.showOrg(org.id);
    }), { className: view.following ? 'btn-sm' : 'btn-sm btn-primary' });
    const [admins, jobs, posts] = await Promise.all([
      this.api.org_admins_of(org.id),
      this.api.org_jobs(org.id, view.is_admin),  // admins also see closed jobs, to reopen them
      this.api.org_posts(org.id, [], 10),
    ]);
    const postList = element('ol', { className: 'post-list compact' });
    await this.app.feed.postsInto(postList, posts);
    box.replaceChildren(
      element('div', { className: 'card stack-sm' }, [
        element('h2', { text: org.name }),
        element('p', { className: 'small muted', text: `${tagOf(org.kind)} · ${org.location || 'no location'} · ${plural(org.follower_count, 'follower')}` }),
        element('p', { className: 'prewrap', text: org.about }),
        element('div', { className: 'cluster' }, [follow]),
      ]),
      element('div', { className: 'card' }, [element('h3', { text: 'Admins' }),
        element('ul', { className: 'list' }, admins.map((p) => element('li', {}, [this.app.personLink(p)])))]),
      element('div', { className: 'card' }, [element('h3', { text: `Jobs (${jobs.length})` }),
        element('ul', { className: 'list' }, jobs.map((j) => this.jobItem(j)))]),
      element('div', { className: 'card' }, [element('h3', { text: 'Posts' }), postList]),
    );
    if (view.is_admin) box.append(this.adminTools(org));
  }

  adminTools(org) {
    const refresh = () => this.showOrg(org.id);
    const form = (title, fields, submitText, work) => {
      const node = element('form', { className: 'card stack-sm' }, [element('h3', { text: title }), ...fields,
        element('button', { text: submitText, attrs: { type: 'submit' } })]);
      node.addEventListener('submit', (event) => {
        event.preventDefault();
        this.app.busy(node, async () => { await work(node); node.reset(); await refresh(); });
      });
      return node;
    };
    const input = (name, attrs = {}) => element('input', { attrs: { name, maxlength: 200, autocomplete: 'off', ...attrs } });
    const who = async (text) => {
      const view = unopt(await this.api.profile(text.trim().replace(/^@/, '')));
      if (!view) throw new Error(`no one has the handle ${text}: type a member's @handle`);
      return view.user;
    };
    return element('div', { className: 'stack org-admin' }, [
      form('Attest a role', [
        field('Member (@handle)', input('member', { required: true, placeholder: '@handle' })),
        field('Title', input('title', { required: true })),
        element('div', { className: 'form-grid' }, [
          field('From (YYYY-MM)', input('start', { required: true, pattern: '\\d{4}-\\d{2}', placeholder: '2021-03' })),
          field('To (YYYY-MM, empty: present)', input('end', { pattern: '\\d{4}-\\d{2}' })),
        ]),
      ], 'Attest', async (node) => {
        await this.api.attest_employment(org.id, await who(node.member.value), node.title.value, node.start.value, opt(node.end.value));
        this.app.toast('Attested: it is in the certified data now.');
      }),
      form('Post a job', [
        field('Title', input('title', { required: true })),
        field('Location', input('location', { required: true })),
        element('div', { className: 'form-grid' }, [
          field('Workplace', select('workplace', WORKPLACES)),
          field('Seniority', select('seniority', SENIORITY)),
        ]),
        field('Skills (comma separated)', input('skills')),
        field('Description', element('textarea', { attrs: { name: 'description', rows: 3, maxlength: 5000, required: true } })),
        element('div', { className: 'form-grid' }, [
          field('Salary from', input('salary_min', { type: 'number', min: 0 })),
          field('to', input('salary_max', { type: 'number', min: 0 })),
          field('Currency', input('currency', { maxlength: 3, placeholder: 'EUR' })),
        ]),
      ], 'Post job', async (node) => {
        const salary = node.salary_min.value && node.salary_max.value
          ? [{ min: BigInt(node.salary_min.value), max: BigInt(node.salary_max.value), currency: node.currency.value || 'EUR' }] : [];
        await this.api.post_job(org.id, {
          title: node.title.value, description: node.description.value, location: node.location.value,
          workplace: variant(node.workplace.value), seniority: variant(node.seniority.value),
          skills: node.skills.value.split(',').map((s) => s.trim()).filter(Boolean), salary,
        });
        this.app.toast('Job posted.');
      }),
      form('Add an admin', [field('Person (@handle)', input('admin', { required: true, placeholder: '@handle' }))], 'Add admin',
        async (node) => { await this.api.add_org_admin(org.id, await who(node.admin.value)); }),
    ]);
  }
}
