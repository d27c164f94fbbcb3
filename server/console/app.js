// The confcenter console: a single-page app over the HTTP/JSON API (api.js). Every page has a
// hash route, so a link to a tenant, a key's history or a diff can go into a review or a
// chat:
//   #/tenants                          the tenant tree (chains, TTL, expiry, keep)
//   #/tenant/T?service=S               T's resolved view, each value marked by its source; live
//   #/tenant/T/registry                T's services, endpoints, dependency routing, warnings
//   #/tenant/T/releases                releases that touched T
//   #/tenant/T/instances?service=S     who follows T's view, what each applied, self-checks
//   #/release/N                        one release with its changes
//   #/history/T/S/K                    a key's versions; roll back with a dry-run preview
//   #/diff?mode=parent|tenants|revisions&tenant=T&other=U&from=R1&to=R2
//   #/audit?tenant=&user=&rpc=&since=&until=
//   #/login?next=...                   sign in with a token (where the server checks them)
import {ApiError, call, callAll, follow, setToken, token} from './api.js';

// The page's container; each route renders into a view of its own inside it, so a page that
// finishes loading after the user moved on writes into a detached view, never over the next.
const root = document.getElementById('main');
const dialog = document.getElementById('dialog');

// ---- small helpers -------------------------------------------------------------------------

const ESCAPES = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};
const esc = value => String(value ?? '').replace(/[&<>"']/g, c => ESCAPES[c]);
const enc = encodeURIComponent;
const link = (hash, text, attrs = '') => `<a href="#${esc(hash)}" ${attrs}>${esc(text)}</a>`;
const num = value => Number(value || 0);
const strip = (value, prefix) => String(value || '').replace(prefix, '').toLowerCase();

// A tenant's colour is its place in the chain being shown (0 = the tenant itself).
function chip(tenant, chain) {
  const index = Math.max(0, chain.indexOf(tenant));
  return `<span class="chip src-${Math.min(index, 5)}" data-source="${esc(tenant)}">${
      esc(tenant)}</span>`;
}

function when(timestamp) {
  if (!timestamp) return '';
  const date = new Date(timestamp);
  return `<time datetime="${esc(timestamp)}" title="${esc(timestamp)}">${
      esc(date.toLocaleString())}</time>`;
}

function relative(timestamp) {
  const seconds = Math.round((new Date(timestamp) - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  const text = abs < 120 ? `${abs} s` : abs < 7200 ? `${Math.round(abs / 60)} min`
      : abs < 172800 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} days`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

function duration(text) {  // protobuf JSON Duration, "86400s"
  const seconds = parseFloat(text || '0');
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  return `${Math.round(seconds / 60)} min`;
}

// A value; a secret the caller may read stays hidden until its "show" button is clicked.
function showValue(entry) {
  if (entry.redacted) return '<span class="redacted" title="a secret you may not read">•••• redacted</span>';
  if (!entry.secret) return `<code>${esc(entry.value)}</code>`;
  return `<span class="badge secret">secret</span> <code class="hidden-secret" data-secret="${
      esc(entry.value)}">••••••</code> <button type="button" data-reveal>show</button>`;
}

document.addEventListener('click', e => {
  const button = e.target.closest('button[data-reveal]');
  if (!button) return;
  const code = button.previousElementSibling;
  const shown = button.textContent === 'hide';
  code.textContent = shown ? '••••••' : code.dataset.secret;
  button.textContent = shown ? 'show' : 'hide';
});

function showError(error) {
  const banner = document.getElementById('error');
  if (!error) {
    banner.hidden = true;
    banner.textContent = '';
    return;
  }
  const text = error instanceof ApiError ? `${error.status}: ${error.message}` : String(error);
  banner.innerHTML = esc(text) + (error.status === 'UNAUTHENTICATED'
      ? ` — ${link(`/login?next=${enc(location.hash.slice(1))}`, 'sign in with a token')}`
      : '');
  banner.hidden = false;
}

// A modal: `body` (HTML) with buttons; resolves to the label clicked (or null).
function ask(title, body, buttons = ['Cancel', 'OK']) {
  dialog.innerHTML = `<form method="dialog"><h2>${esc(title)}</h2><div class="dialog-body">${
      body}</div><menu>${buttons.map(b => `<button value="${esc(b)}" data-testid="dialog-${
      esc(b.toLowerCase().replace(/\W+/g, '-'))}">${esc(b)}</button>`).join('')}</menu></form>`;
  dialog.returnValue = '';  // Escape closes without setting it: never the last answer
  dialog.showModal();
  return new Promise(resolve => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue || null), {once: true});
  });
}

// Marks the page rendered, if `view` is still the one shown (benchmarks and tests wait for
// it: data-rendered is the page, data-route the address it rendered), and records how long it
// took.
function rendered(page, started, view) {
  if (!view.isConnected) return;
  window.confcenterRender = {page, ms: performance.now() - started};
  root.dataset.route = location.hash;
  root.dataset.rendered = page;
}

// ---- live indicator --------------------------------------------------------------------------

function setLive(text, state) {
  const live = document.getElementById('live');
  live.textContent = text;
  live.className = `live ${state}`;
}

// ---- pages ---------------------------------------------------------------------------------

async function tenantsPage(_, __, main) {
  const started = performance.now();
  const tenants = await callAll('TenantService/ListTenants', {pageSize: 1000}, 'tenants');
  const names = new Set(tenants.map(t => t.name));
  const children = new Map();
  for (const t of tenants) {
    const parent = t.parent && names.has(t.parent) ? t.parent : '';
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(t);
  }
  for (const list of children.values()) list.sort((a, b) => a.name.localeCompare(b.name));
  const item = t => {
    const meta = [`${(t.services || []).length} services`, `${num(t.keyCount)} keys`];
    if (t.keep) meta.push('<span class="badge">keep</span>');
    if (t.ttl) meta.push(`TTL ${duration(t.ttl)}`);
    if (t.expireTime) meta.push(`expires ${relative(t.expireTime)}`);
    const kids = children.get(t.name) || [];
    return `<li data-tenant="${esc(t.name)}">${link(`/tenant/${enc(t.name)}`, t.name)} <span class="meta">${
        meta.join(' · ')}</span>${kids.length ? `<ul>${kids.map(item).join('')}</ul>` : ''}</li>`;
  };
  const roots = children.get('') || [];
  main.innerHTML = `<h1>Tenants</h1>
    <p class="muted" data-testid="tenant-count">${tenants.length} tenants, ${roots.length} chains.
    A branch sees its own values first and falls back along its chain.</p>
    <ul class="tree" data-testid="tenant-tree">${roots.map(item).join('')}</ul>`;
  rendered('tenants', started, main);
}

// The tenant's open gray release id (ReleaseService.GetGray), or '' (int64s are JSON strings).
function grayOf(tenant) {
  return tenant.grayReleaseId && tenant.grayReleaseId !== '0' ? tenant.grayReleaseId : '';
}

function tenantHeader(tenant, current) {
  const chain = tenant.chain || [tenant.name];
  const tabs = [
    [`/tenant/${enc(tenant.name)}`, 'Resolved view', 'view'],
    [`/tenant/${enc(tenant.name)}/registry`, 'Registry', 'registry'],
    [`/tenant/${enc(tenant.name)}/releases`, 'Releases', 'releases'],
    [`/tenant/${enc(tenant.name)}/instances`, 'Instances', 'instances'],
    [`/diff?mode=parent&tenant=${enc(tenant.name)}`, 'Diff with parent', 'diff'],
  ].filter(([, , id]) => id !== 'diff' || tenant.parent);
  const meta = [];
  if (tenant.keep) meta.push('<span class="badge">keep</span>');
  if (tenant.ttl) meta.push(`TTL ${duration(tenant.ttl)}`);
  if (tenant.expireTime) meta.push(`expires ${when(tenant.expireTime)} (${relative(tenant.expireTime)})`);
  if (tenant.review && tenant.review.draftsRequired) {
    meta.push(`<span class="badge" data-testid="review-badge">changes by reviewed drafts${
      tenant.review.publisherNotAuthor ? ', four eyes' : ''}</span>`);
  }
  if (tenant.openDrafts) meta.push(`${esc(tenant.openDrafts)} open drafts`);
  if (grayOf(tenant)) {
    meta.push(`<a class="badge gray" data-testid="gray-badge" href="#/tenant/${enc(tenant.name)}/instances">gray release ${
      esc(grayOf(tenant))} open</a>`);
  }
  return `<h1>${esc(tenant.name)}</h1>
    <p class="chain" data-testid="chain">chain: ${chain.map(t => chip(t, chain)).join(' → ')}
      ${meta.length ? `<span class="meta">${meta.join(' · ')}</span>` : ''}</p>
    <nav class="tabs">${tabs.map(([hash, text, id]) =>
        `<a href="#${esc(hash)}" class="${id === current ? 'active' : ''}">${esc(text)}</a>`).join('')}</nav>`;
}

async function tenantPage([name], params, main) {
  const started = performance.now();
  const service = params.get('service') || '';
  const services = service ? [service] : [];
  const [{tenant}, who] = await Promise.all([
    call('TenantService/GetTenant', {tenant: name}),
    call('AccessService/WhoAmI', {tenant: name}).catch(() => null),
  ]);
  const chain = tenant.chain || [name];
  const mayWrite = !who || (who.rights || []).some(r => r === 'write' || r === 'admin');
  const state = {revision: 0, epoch: ''};

  async function load(minRevision) {
    const at = minRevision ? {minRevision: String(minRevision)} : {};
    const [view, own, parentView] = await Promise.all([
      call('ConfigService/Resolve', {tenant: name, services, ...at}),
      callAll('ConfigService/List', {tenant: name, service, pageSize: 1000, ...at}, 'entries'),
      tenant.parent ? call('ConfigService/Resolve', {tenant: tenant.parent, services, ...at})
                    : Promise.resolve({entries: []}),
    ]);
    return {view, own, parentView};
  }

  function render({view, own, parentView}) {
    if (num(view.revision) < state.revision) return;  // an older read finished last
    state.revision = num(view.revision);
    const inParent = new Map((parentView.entries || []).map(e => [`${e.service}\0${e.key}`, e]));
    const rows = (view.entries || []).map(e => ({...e, masked: false}));
    for (const e of own) {
      if (e.kind === 'ENTRY_KIND_MASK') rows.push({...e, masked: true, sourceTenant: name});
    }
    rows.sort((a, b) => a.service.localeCompare(b.service) || a.key.localeCompare(b.key));
    const allServices = new Set([...(tenant.services || []).map(s => s.definition.name),
                                 ...rows.map(r => r.service)]);
    const body = rows.map(r => {
      const id = `${r.service}/${r.key}`;
      const below = inParent.get(`${r.service}\0${r.key}`);
      let note = '';
      let cls = r.sourceTenant === name ? 'own' : 'inherited';
      if (r.masked) {
        cls = 'masked';
        note = below ? `masked: hides ${esc(below.sourceTenant)}'s value` : 'masked';
      } else if (r.sourceTenant === name && below) {
        cls = 'override';
        note = `overrides ${esc(below.sourceTenant)}: ${below.redacted ? 'redacted'
            : `<code>${esc(below.value)}</code>`}`;
      } else if (r.sourceTenant !== name) {
        note = 'inherited';
      }
      const actions = [link(`/history/${enc(name)}/${enc(r.service)}/${enc(r.key)}`, 'history')];
      if (mayWrite) {
        if (!r.masked) actions.push(`<button data-act="edit">edit</button>`);
        if (r.sourceTenant === name) {
          actions.push(`<button data-act="delete">${r.masked ? 'unmask' : 'delete'}</button>`);
        } else {
          actions.push(`<button data-act="mask">mask</button>`);
        }
      }
      return `<tr class="${cls}" data-key="${esc(id)}" data-service="${esc(r.service)}" data-k="${
          esc(r.key)}" data-content-type="${esc(r.contentType || '')}" data-expected="${
          r.sourceTenant === name ? esc(r.revision || '0') : '0'}"><td>${esc(r.service)}</td><td>${esc(r.key)}</td><td class="value">${
          r.masked ? '<span class="muted">(hidden)</span>' : showValue(r)}</td><td class="source">${
          chip(r.sourceTenant, chain)}</td><td class="note">${note}</td><td class="actions">${
          actions.join(' ')}</td></tr>`;
    }).join('');
    const options = ['', ...[...allServices].sort()].map(s =>
        `<option value="${esc(s)}" ${s === service ? 'selected' : ''}>${s ? esc(s) : 'every service'}</option>`);
    main.innerHTML = `${tenantHeader(tenant, 'view')}
      <form class="toolbar" id="filter"><label>Service <select name="service">${options.join('')}</select></label>
        <span class="muted" data-testid="view-count">${rows.length} keys at revision ${esc(view.revision)}</span>
        <span class="legend">${chain.map(t => chip(t, chain)).join(' ')}</span></form>
      ${mayWrite ? `<form class="toolbar" id="add"><strong>Set a value</strong>
        <select name="service" required>${[...allServices].sort().map(s =>
            `<option ${s === service ? 'selected' : ''}>${esc(s)}</option>`).join('')}</select>
        <input name="key" placeholder="key" required> <input name="value" placeholder="value">
        <label><input type="checkbox" name="secret"> secret</label> <button>Put</button></form>` : ''}
      <table class="view" data-testid="view"><thead><tr><th>Service</th><th>Key</th><th>Value</th>
        <th>Source</th><th></th><th></th></tr></thead><tbody>${body}</tbody></table>`;
    main.querySelector('#filter select').addEventListener('change', e => {
      location.hash = `/tenant/${enc(name)}${e.target.value ? `?service=${enc(e.target.value)}` : ''}`;
    });
    const add = main.querySelector('#add');
    if (add) {
      add.addEventListener('submit', async e => {
        e.preventDefault();
        const form = new FormData(add);
        await write('ConfigService/Put', {tenant: name, service: form.get('service'),
          key: form.get('key'), value: form.get('value'), secret: form.get('secret') === 'on'});
      });
    }
    main.querySelector('tbody').addEventListener('click', onRowAction);
  }

  async function write(method, request) {
    try {
      const reply = await call(method, request);
      showError(null);
      render(await load(num(reply.revision)));
    } catch (e) {
      showError(e);
    }
  }

  async function onRowAction(e) {
    const button = e.target.closest('button[data-act]');
    if (!button) return;
    const row = button.closest('tr');
    const key = {tenant: name, service: row.dataset.service, key: row.dataset.k};
    const what = `${key.service}/${key.key}`;
    if (button.dataset.act === 'edit') {
      const current = row.querySelector('.value code');
      const answer = await ask(`Set ${what} in ${name}`,
          `<textarea name="value" rows="4" data-testid="edit-value">${esc(current ? current.dataset.secret ?? current.textContent : '')}</textarea>
           <p class="muted">Written to ${esc(name)}: it overrides what the chain below provides.</p>`,
          ['Cancel', 'Save']);
      if (answer === 'Save') {
        // Keeps the value's content type, and refuses to overwrite a change made meanwhile
        // (compare-and-set on the entry this form was filled from).
        const put = {...key, value: dialog.querySelector('textarea').value,
                     expectedRevision: row.dataset.expected};
        if (row.dataset.contentType) put.contentType = row.dataset.contentType;
        await write('ConfigService/Put', put);
      }
    } else if (button.dataset.act === 'delete') {
      const answer = await ask(`Delete ${what} from ${name}?`,
          `<p>The key falls back to what ${esc(tenant.parent || 'nothing')} provides, if anything.</p>`,
          ['Cancel', 'Delete']);
      if (answer === 'Delete') await write('ConfigService/Delete', key);
    } else if (button.dataset.act === 'mask') {
      const answer = await ask(`Mask ${what} in ${name}?`,
          `<p>The key disappears from ${esc(name)}'s view (and its branches'), whatever the chain below holds.</p>`,
          ['Cancel', 'Mask']);
      if (answer === 'Mask') await write('ConfigService/Mask', key);
    }
  }

  render(await load(0));
  rendered('view', started, main);

  // Live: the view's changes as they are committed, from the revision it was read at. One
  // reload at a time; changes that arrive meanwhile get one more reload when it is done.
  let wanted = 0;
  let loading = false;
  let stopped = false;
  async function catchUp() {
    loading = true;
    while (!stopped && wanted > state.revision) {
      try {
        render(await load(wanted));
      } catch (e) {
        showError(e);
        break;
      }
    }
    loading = false;
  }
  const stop = follow('WatchService/Subscribe',
      {tenant: name, services, startRevision: String(state.revision)}, {
        onMessage: message => {
          const revision = num(message.revision);
          setLive(`live · revision ${revision}`, 'on');
          // A restored store starts a new epoch and reuses revision numbers: read it afresh.
          if (message.resync || (message.epoch && state.epoch && message.epoch !== state.epoch)) {
            state.revision = 0;
          }
          if (message.epoch) state.epoch = message.epoch;
          if (message.kind === 'SUBSCRIBE_RESPONSE_KIND_PROGRESS' || revision <= state.revision) return;
          wanted = Math.max(wanted, revision);
          if (!loading) catchUp();
        },
        onState: ({live, retrying, error}) => {
          if (!live) setLive(retrying ? 'reconnecting…' : 'not live', 'off');
          if (!retrying && error) showError(error);
        },
      });
  return () => {
    stopped = true;
    stop();
    setLive('', '');
  };
}

async function registryPage([name], _, main) {
  const started = performance.now();
  const {tenant} = await call('TenantService/GetTenant', {tenant: name});
  const chain = tenant.chain || [name];
  // The services this tenant's deployments see: its own, then each ancestor's it does not
  // register itself.
  const holders = await Promise.all(chain.map(t => t === name ? Promise.resolve({tenant})
      : call('TenantService/GetTenant', {tenant: t})));
  const seen = new Map();
  holders.forEach(({tenant: holder}) => {
    for (const s of holder.services || []) {
      if (!seen.has(s.definition.name)) seen.set(s.definition.name, {service: s, from: holder.name});
    }
  });
  const names = [...seen.keys()].sort();
  const maps = await Promise.all(names.map(s =>
      call('TenantService/ResolveDependencies', {tenant: name, service: s}).catch(e => ({error: e}))));
  const cards = names.map((s, i) => {
    const {service, from} = seen.get(s);
    const d = service.definition;
    const endpoints = Object.entries(service.endpoints || {}).map(([n, a]) =>
        `<li><strong>${esc(n)}</strong> <code>${esc(a)}</code></li>`).join('');
    const map = maps[i];
    let dependencies;
    if (map.error) {
      dependencies = `<p class="warning">${esc(map.error)}</p>`;
    } else if ((map.map?.dependencies || []).length) {
      dependencies = `<table class="deps"><thead><tr><th>Dependency</th><th>Range</th><th>Routed to</th>
        <th>Version</th><th>Endpoints</th><th>Compatible</th></tr></thead><tbody>${
          map.map.dependencies.map(dep => `<tr class="${dep.compatible ? '' : 'incompatible'}"
            data-dependency="${esc(dep.service)}"><td>${esc(dep.service)}</td><td>${esc(dep.range)}</td>
            <td>→ ${dep.sourceTenant ? chip(dep.sourceTenant, chain) : '<em>unresolved</em>'}</td>
            <td>${esc(dep.version)}</td><td>${Object.entries(dep.endpoints || {}).map(([n, a]) =>
                `${esc(n)}: <code>${esc(a)}</code>`).join('<br>')}</td>
            <td>${dep.compatible ? '✓' : `<span class="warning">${esc(dep.problem || 'incompatible')}</span>`}</td>
            </tr>`).join('')}</tbody></table>`;
    } else {
      dependencies = '<p class="muted">No dependencies.</p>';
    }
    const warnings = (service.warnings || []).map(w => `<li class="warning">${esc(w)}</li>`).join('');
    return `<section class="card" data-service="${esc(s)}"><h2>${esc(s)} ${chip(from, chain)}</h2>
      <p>version <strong>${esc(d.version || '—')}</strong> · ${esc(strip(d.protocol, 'PROTOCOL_') || 'protocol unset')}
        · registered ${when(service.registerTime)} at revision ${esc(service.revision)}</p>
      ${endpoints ? `<ul class="endpoints">${endpoints}</ul>` : ''}
      ${warnings ? `<ul>${warnings}</ul>` : ''}
      ${dependencies}</section>`;
  });
  main.innerHTML = `${tenantHeader(tenant, 'registry')}
    ${cards.length ? cards.join('') : '<p class="muted">No services registered along this chain.</p>'}`;
  rendered('registry', started, main);
}

function changesTable(changes, chain = []) {
  const side = entry => !entry ? '<span class="muted">(absent)</span>'
      : entry.kind === 'ENTRY_KIND_MASK' ? '<span class="muted">(masked)</span>' : showValue(entry);
  return `<table class="changes" data-testid="changes"><thead><tr><th>Tenant</th><th>Service</th>
    <th>Key</th><th>Before</th><th>After</th></tr></thead><tbody>${(changes || []).map(c =>
      `<tr data-key="${esc(`${c.service}/${c.key}`)}"><td>${chain.length ? chip(c.tenant, chain) : esc(c.tenant)}</td>
       <td>${esc(c.service)}</td><td>${esc(c.key)}</td><td class="before">${side(c.before)}</td>
       <td class="after">${side(c.after)}</td></tr>`).join('')}</tbody></table>`;
}

async function releasesPage([name], _, main) {
  const started = performance.now();
  const [{tenant}, {releases}] = await Promise.all([
    call('TenantService/GetTenant', {tenant: name}),
    call('HistoryService/ListReleases', {tenant: name, pageSize: 200}),
  ]);
  main.innerHTML = `${tenantHeader(tenant, 'releases')}
    <table data-testid="releases"><thead><tr><th>Release</th><th>Message</th><th>Author</th><th>Time</th>
      <th>Tenants</th><th>Changes</th></tr></thead><tbody>${(releases || []).map(r => `<tr>
      <td>${link(`/release/${esc(r.releaseId)}`, `#${r.releaseId}`)}</td><td>${esc(r.message)}</td>
      <td>${esc(r.author)}</td><td>${when(r.commitTime)}</td><td>${esc((r.tenants || []).join(', '))}</td>
      <td>${esc(r.changeCount || 0)}</td></tr>`).join('')}</tbody></table>
    ${(releases || []).length ? '' : '<p class="muted">No releases: single writes are in each key\'s history.</p>'}`;
  rendered('releases', started, main);
}

// Who follows the tenant's view: each instance with what it applied, whether that is current,
// and its self-check (InstanceService.ListInstances).
async function instancesPage([name], params, main) {
  const started = performance.now();
  const service = params.get('service') || '';
  const [{tenant}, listed] = await Promise.all([
    call('TenantService/GetTenant', {tenant: name}),
    call('InstanceService/ListInstances', {tenant: name, service}),
  ]);
  const instances = listed.instances || [];
  // The open gray release, and the instances in its audience (they see its values).
  const gray = grayOf(tenant)
      ? (await call('ReleaseService/GetGray', {tenant: name}).catch(() => null))?.gray : null;
  const inGray = new Set(gray ? gray.instances || [] : []);
  const check = c => !c || !c.state || c.state === 'STATE_UNSPECIFIED' ? '<span class="muted">—</span>'
      : c.state === 'STATE_OK' ? '<span class="badge ok">ok</span>'
      : `<span class="warning">failing: ${esc(c.message)}</span>`;
  const rows = instances.map(i => {
    const info = i.info || {};
    const labels = Object.entries(info.labels || {}).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(' ');
    const current = !i.reports ? '<span class="muted">does not report</span>'
        : i.current ? '<span class="badge ok">current</span>'
        : `<span class="warning">behind: needs ${esc(i.lastChangeRevision || '0')}</span>`;
    return `<tr class="${i.connected ? '' : 'gone'}" data-instance="${esc(info.instanceId || i.peer)}">
      <td>${esc(info.service || '—')}</td>
      <td>${i.reports ? esc(info.instanceId) : `<span class="muted">anonymous</span> ${esc(i.peer)}`}${
        inGray.has(info.instanceId) ? ` <span class="badge gray" data-testid="in-gray">gray ${esc(gray.grayReleaseId)}</span>` : ''}</td>
      <td>${esc(info.pod || info.host || '')}${info.namespace ? ` <span class="muted">(${esc(info.namespace)})</span>` : ''}</td>
      <td class="applied">${i.reports ? esc(i.appliedRevision || '0') : ''}</td><td class="current">${current}</td>
      <td class="self-check">${check(i.selfCheck)}</td>
      <td>${i.connected ? when(i.connectedSince) : `gone since ${when(i.disconnectedAt)}`}${
        i.replica ? ` <span class="muted">on ${esc(i.replica)}</span>` : ''}</td>
      <td>${labels} <span class="muted">${esc(info.library || '')}</span></td></tr>`;
  }).join('');
  const behind = instances.filter(i => i.reports && i.connected && !i.current).length;
  const failing = instances.filter(i => i.selfCheck && i.selfCheck.state === 'STATE_FAILING').length;
  main.innerHTML = `${tenantHeader(tenant, 'instances')}
    <p data-testid="instances-summary">${instances.length} instances at revision ${esc(listed.revision)}:
      ${behind} behind, ${failing} failing their self-check. <button id="refresh">Refresh</button></p>
    ${gray ? `<p data-testid="gray-summary">Gray release ${esc(gray.grayReleaseId)} by ${esc(gray.author)}
      (${esc([gray.audience?.service && `service ${gray.audience.service}`,
              gray.audience?.selector && `labels ${gray.audience.selector}`,
              (gray.audience?.instanceIds || []).length && `instances ${gray.audience.instanceIds.join(', ')}`,
              gray.audience?.percentage && `${gray.audience.percentage}%`].filter(Boolean).join(', '))}):
      ${esc((gray.changes || []).length)} changed keys, seen by ${inGray.size} live instances.</p>` : ''}
    ${(listed.unreachableReplicas || []).map(r => `<p class="warning" data-testid="unreachable-replica">
      Replica ${esc(r.replica)} (${esc(r.address || 'no address')}) did not answer: its instances
      are missing. ${esc(r.error)}</p>`).join('')}
    <table data-testid="instances"><thead><tr><th>Service</th><th>Instance</th><th>Pod / host</th>
      <th>Applied</th><th>Current</th><th>Self-check</th><th>Connected</th><th>Labels</th></tr></thead>
      <tbody>${rows}</tbody></table>
    ${instances.length ? '' : '<p class="muted">No process follows this tenant\'s view now.</p>'}`;
  main.querySelector('#refresh').addEventListener('click', () => instancesPage([name], params, main)
      .catch(showError));
  rendered('instances', started, main);
}

async function releasePage([id], _, main) {
  const started = performance.now();
  const {release} = await call('HistoryService/GetRelease', {releaseId: id});
  main.innerHTML = `<h1>Release #${esc(release.releaseId)}</h1>
    <p>${esc(release.message)}</p>
    <p class="muted">by ${esc(release.author)} · ${when(release.commitTime)} · origin ${esc(release.origin || '—')}
      · tenants ${(release.tenants || []).map(t => link(`/tenant/${enc(t)}`, t)).join(', ')}</p>
    ${changesTable(release.changes)}`;
  rendered('release', started, main);
}

async function historyPage([name, service, key], _, main) {
  const started = performance.now();
  const history = await call('HistoryService/History', {tenant: name, service, key, pageSize: 200});
  const versions = history.versions || [];
  const rows = versions.map((v, i) => `<tr data-revision="${esc(v.revision)}">
    <td>${esc(v.revision)}</td><td>${esc(strip(v.kind, 'VERSION_KIND_'))}</td>
    <td class="value">${v.kind === 'VERSION_KIND_VALUE' ? showValue(v) : ''}</td>
    <td>${esc(v.author)}</td><td>${when(v.commitTime)}</td>
    <td>${v.releaseId && v.releaseId !== '0' ? link(`/release/${esc(v.releaseId)}`, `#${v.releaseId}`) : ''}
      ${esc(v.message)}</td>
    <td>${i === 0 ? '<span class="muted">current</span>'
        : `<button data-rollback="${esc(v.revision)}">roll back to this</button>`}</td></tr>`).join('');
  main.innerHTML = `<h1>History of ${esc(service)}/${esc(key)} in ${link(`/tenant/${enc(name)}`, name)}</h1>
    <p class="muted">Newest first. Kept from revision ${esc(history.oldestRevision || '0')} on.</p>
    <div id="rollback-result"></div>
    <table data-testid="history"><thead><tr><th>Revision</th><th>Kind</th><th>Value</th><th>Author</th>
      <th>Time</th><th>Release</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
  main.querySelector('tbody').addEventListener('click', async e => {
    const button = e.target.closest('button[data-rollback]');
    if (!button) return;
    const request = {tenant: name, service, key, toRevision: button.dataset.rollback};
    try {
      const preview = await call('HistoryService/Rollback', {...request, dryRun: true});
      if (!(preview.changes || []).length) {
        await ask('Nothing to roll back', `<p>${esc(service)}/${esc(key)} is already as it was at revision ${
            esc(request.toRevision)}.</p>`, ['OK']);
        return;
      }
      const answer = await ask(`Roll ${service}/${key} back to revision ${request.toRevision}?`,
          `<p>Dry run: this is what the rollback writes, as one new revision.</p>${changesTable(preview.changes)}`,
          ['Cancel', 'Roll back']);
      if (answer !== 'Roll back') return;
      const done = await call('HistoryService/Rollback', {...request, dryRun: false,
        message: `console: roll ${service}/${key} back to revision ${request.toRevision}`});
      await historyPage([name, service, key], null, main);
      main.querySelector('#rollback-result').innerHTML =
          `<p class="notice" data-testid="rollback-done">Rolled back at revision ${esc(done.revision)}.</p>`;
    } catch (error) {
      showError(error);
    }
  });
  rendered('history', started, main);
}

async function diffPage(_, params, main) {
  const started = performance.now();
  const mode = params.get('mode') || 'parent';
  const tenant = params.get('tenant') || '';
  const other = params.get('other') || '';
  const from = params.get('from') || '';
  const to = params.get('to') || '';
  const form = `<form class="toolbar" id="diff-form">
    <select name="mode">${[['parent', 'a branch against its parent'], ['tenants', 'two tenants'],
        ['revisions', 'a tenant at two revisions']].map(([v, t]) =>
        `<option value="${v}" ${v === mode ? 'selected' : ''}>${t}</option>`).join('')}</select>
    <input name="tenant" placeholder="tenant" value="${esc(tenant)}" required>
    <input name="other" placeholder="other tenant" value="${esc(other)}" ${mode === 'tenants' ? '' : 'hidden'}>
    <input name="from" placeholder="from revision" value="${esc(from)}" ${mode === 'revisions' ? '' : 'hidden'}>
    <input name="to" placeholder="to revision (empty = now)" value="${esc(to)}" ${mode === 'revisions' ? '' : 'hidden'}>
    <button>Compare</button></form>`;
  let result = '';
  if (tenant) {
    const request = {mode: `DIFF_MODE_${mode.toUpperCase()}`, tenant};
    if (mode === 'tenants') request.otherTenant = other;
    if (mode === 'revisions') Object.assign(request, {fromRevision: from, toRevision: to || '0'});
    const diff = await call('HistoryService/Diff', request);
    const chain = [diff.rightTenant, diff.leftTenant];
    const side = v => v ? `${showValue(v)} ${v.sourceTenant ? chip(v.sourceTenant, chain) : ''}`
        : '<span class="muted">(absent)</span>';
    const entries = diff.entries || [];
    result = `<p data-testid="diff-summary">${entries.length} differences:
        <strong>${esc(diff.leftTenant)}</strong> at revision ${esc(diff.leftRevision)} (left) against
        <strong>${esc(diff.rightTenant)}</strong> at revision ${esc(diff.rightRevision)} (right).</p>
      <table data-testid="diff"><thead><tr><th>Service</th><th>Key</th><th>Change</th><th>Left</th><th>Right</th>
      </tr></thead><tbody>${entries.map(d => `<tr class="${esc(strip(d.type, 'DIFF_TYPE_'))}"
        data-key="${esc(`${d.service}/${d.key}`)}"><td>${esc(d.service)}</td><td>${esc(d.key)}</td>
        <td>${esc(strip(d.type, 'DIFF_TYPE_'))}</td><td class="left">${side(d.left)}</td>
        <td class="right">${side(d.right)}</td></tr>`).join('')}</tbody></table>`;
  }
  main.innerHTML = `<h1>Diff</h1>${form}${result}`;
  const f = main.querySelector('#diff-form');
  f.querySelector('select').addEventListener('change', e => {
    const m = e.target.value;
    f.other.hidden = m !== 'tenants';
    f.from.hidden = f.to.hidden = m !== 'revisions';
  });
  f.addEventListener('submit', e => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(f)) if (v && !f[k].hidden) q.set(k, v);
    location.hash = `/diff?${q}`;
  });
  rendered('diff', started, main);
}

async function auditPage(_, params, main) {
  const started = performance.now();
  const filters = Object.fromEntries(['tenant', 'user', 'rpc', 'since', 'until'].map(
      k => [k, params.get(k) || '']));
  const request = {pageSize: 100};
  for (const k of ['tenant', 'user', 'rpc']) if (filters[k]) request[k] = filters[k];
  for (const k of ['since', 'until']) if (filters[k]) request[k] = new Date(filters[k]).toISOString();
  const row = a => `<tr class="${a.errorCode ? 'failed' : ''}"><td>${when(a.time)}</td><td>${esc(a.rpc)}</td>
    <td>${esc(a.user)}</td><td>${esc(a.peer)}</td><td>${(a.tenants || []).map(t =>
        link(`/tenant/${enc(t)}`, t)).join(', ')}</td><td>${esc([...(a.keys || [])].slice(0, 5).join(', '))}</td>
    <td>${esc(a.revision || '')}</td><td>${esc(a.errorCode || 'OK')}${a.errorMessage ? `: ${esc(a.errorMessage)}` : ''}</td>
    <td>${esc(a.message || '')}</td></tr>`;
  const page = await call('HistoryService/QueryAudit', request);
  main.innerHTML = `<h1>Audit log</h1>
    <form class="toolbar" id="audit-form">${['tenant', 'user', 'rpc'].map(k =>
        `<input name="${k}" placeholder="${k}" value="${esc(filters[k])}">`).join('')}
      <label>since <input type="datetime-local" name="since" value="${esc(filters.since)}"></label>
      <label>until <input type="datetime-local" name="until" value="${esc(filters.until)}"></label>
      <button>Filter</button></form>
    <table data-testid="audit"><thead><tr><th>Time</th><th>RPC</th><th>User</th><th>Peer</th><th>Tenants</th>
      <th>Keys</th><th>Revision</th><th>Result</th><th>Message</th></tr></thead>
      <tbody>${(page.entries || []).map(row).join('')}</tbody></table>
    <button id="more" ${page.nextPageToken ? '' : 'hidden'}>More</button>`;
  const form = main.querySelector('#audit-form');
  form.addEventListener('submit', e => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.hash = `/audit?${q}`;
  });
  let next = page.nextPageToken;
  main.querySelector('#more').addEventListener('click', async e => {
    try {
      const more = await call('HistoryService/QueryAudit', {...request, pageToken: next});
      main.querySelector('tbody').insertAdjacentHTML('beforeend', (more.entries || []).map(row).join(''));
      next = more.nextPageToken;
      e.target.hidden = !next;
    } catch (error) {
      showError(error);
    }
  });
  rendered('audit', started, main);
}

async function loginPage(_, params, main) {
  const next = params.get('next') || '/tenants';
  main.innerHTML = `<h1>Sign in</h1>
    <p>Paste a bearer token the server's access policy knows (a static token or a JWT).
      It is kept for this browser tab only.</p>
    <form class="toolbar" id="login"><input type="password" name="token" placeholder="token" size="50"
      autocomplete="off" required> <button>Sign in</button></form>
    ${token() ? '<p><button id="logout">Sign out</button></p>' : ''}`;
  main.querySelector('#login').addEventListener('submit', async e => {
    e.preventDefault();
    const previous = token();
    setToken(new FormData(e.target).get('token'));
    try {
      await showIdentity(true);
      showError(null);
      location.hash = next;
    } catch (error) {
      setToken(previous);
      showError(error);
    }
  });
  const logout = main.querySelector('#logout');
  if (logout) logout.addEventListener('click', () => {
    setToken('');
    showIdentity(false);
    route();
  });
  rendered('login', performance.now(), main);
}

// ---- identity ------------------------------------------------------------------------------

async function showIdentity(rethrow) {
  const identity = document.getElementById('identity');
  try {
    const who = await call('AccessService/WhoAmI', {});
    const name = who.kind === 'anonymous' ? 'anonymous' : `${who.kind}: ${who.name}`;
    identity.innerHTML = `${esc(name)} · ${link('/login', token() ? 'switch' : 'sign in')}`;
  } catch (error) {
    identity.innerHTML = link('/login', 'sign in');
    if (rethrow) throw error;
  }
}

// ---- router --------------------------------------------------------------------------------

const routes = [
  [/^\/(?:tenants)?$/, tenantsPage],
  [/^\/tenant\/([^/]+)$/, tenantPage],
  [/^\/tenant\/([^/]+)\/registry$/, registryPage],
  [/^\/tenant\/([^/]+)\/releases$/, releasesPage],
  [/^\/tenant\/([^/]+)\/instances$/, instancesPage],
  [/^\/release\/(\d+)$/, releasePage],
  [/^\/history\/([^/]+)\/([^/]+)\/([^/]+)$/, historyPage],
  [/^\/diff$/, diffPage],
  [/^\/audit$/, auditPage],
  [/^\/login$/, loginPage],
];

let cleanup = null;
let generation = 0;

async function route() {
  const current = ++generation;
  if (cleanup) cleanup();
  cleanup = null;
  const hash = location.hash.slice(1) || '/tenants';
  const [path, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  delete root.dataset.rendered;
  delete root.dataset.route;
  const view = document.createElement('div');
  view.innerHTML = '<p class="muted">Loading…</p>';
  root.replaceChildren(view);
  showError(null);
  for (const [pattern, page] of routes) {
    const match = path.match(pattern);
    if (!match) continue;
    try {
      const args = match.slice(1).map(decodeURIComponent);
      const stop = await page(args, params, view);
      if (current !== generation) {
        if (stop) stop();
        return;
      }
      cleanup = stop || null;
    } catch (error) {
      if (current !== generation) return;
      view.innerHTML = '';
      root.dataset.route = location.hash;
      root.dataset.rendered = 'error';
      showError(error);
    }
    return;
  }
  view.innerHTML = `<h1>No such page</h1><p>${link('/tenants', 'Tenants')}</p>`;
  root.dataset.route = location.hash;
  root.dataset.rendered = 'none';
}

window.addEventListener('hashchange', route);
showIdentity(false);
route();
