// The console (server/console/) in a real headless browser, Debian's chromium driven by
// playwright-core, against the real confcenterd: the seed's flow end to end, sign-in where
// auth is on, deep links, and the API refusing another site's browser requests.
//
//   node tests/console/console.test.mjs [--confcenterd=build/confcenterd]
// CONSOLE_SCREENSHOTS=DIR also saves the main pages as PNGs there (docs/console/).
import assert from 'node:assert/strict';
import http from 'node:http';
import {after, before, test} from 'node:test';

import {adminAndReaderPolicy, launchBrowser, startServer} from './harness.mjs';

const shots = process.env.CONSOLE_SCREENSHOTS || '';
let browser;

before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser.close();
});

async function screenshot(page, name) {
  if (shots) await page.screenshot({path: `${shots}/${name}.png`, fullPage: true});
}

// Opens a deep link and waits until its page has rendered (that page: going from one hash to
// another is a same-document navigation, and the previous page's marker must not count).
async function open(page, server, hash) {
  await page.goto(`${server.base}/console/#${hash}`);
  await page.waitForFunction(h => {
    const main = document.querySelector('main');
    return main.dataset.rendered && main.dataset.route === h;
  }, `#${hash}`, {timeout: 15000});
}

function row(page, key) {
  return page.locator(`table[data-testid=view] tr[data-key="${key}"]`);
}

// Waits until `key`'s row shows `value` from `source` (the live view may take an event).
async function expectRow(page, key, value, source) {
  await page.waitForFunction(([k, v, s]) => {
    const tr = document.querySelector(`table[data-testid=view] tr[data-key="${k}"]`);
    return tr && tr.querySelector('.value code')?.textContent === v &&
        tr.querySelector('.source .chip')?.dataset.source === s;
  }, [key, value, source], {timeout: 15000});
}

// A request with headers fetch() will not send (Host).
function rawRequest(base, method, path, headers, body = '') {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({host: url.hostname, port: url.port, method, path, headers}, res => {
      let text = '';
      res.on('data', d => { text += d; });
      res.on('end', () => resolve({status: res.statusCode, body: text}));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const orders = (version) => ({
  name: 'orders', version, protocol: 'PROTOCOL_GRPC', endpoints: [{name: 'grpc', port: 9090}],
  dependencies: [{service: 'payments', range: '^1.0'}],
});

test('the seed flow: sources, edit, live, diff, rollback, registry, audit, fallback', async () => {
  const server = await startServer();
  const page = await browser.newPage({viewport: {width: 1280, height: 800}});
  const pageErrors = [];
  page.on('pageerror', e => pageErrors.push(String(e)));
  try {
    // The CD job: integration's services, then branch f1 deploying only orders.
    await server.api('TenantService/Register', {tenant: 'integration', services: [
      {...orders('1.2.0'), defaults: {'db.pool': '10', 'feature.flag': 'off'}},
      {name: 'payments', version: '1.4.0', protocol: 'PROTOCOL_HTTP',
       endpoints: [{name: 'http', port: 8080}], defaults: {currency: 'EUR', timeout: '3s'},
       generatedKeys: [{key: 'api.key', kind: 'GENERATED_KEY_KIND_SECRET', length: 16}]},
    ]});
    await server.api('TenantService/Register',
        {tenant: 'f1', ttl: '604800s', keep: true, services: [orders('1.3.0')]});
    await server.api('ConfigService/Put',
        {tenant: 'f1', service: 'orders', key: 'feature.flag', value: 'on'});

    // The tenant tree: f1 under integration, with its TTL and keep.
    await open(page, server, '/tenants');
    const f1 = page.locator('[data-testid=tenant-tree] li[data-tenant=integration] li[data-tenant=f1]');
    assert.match(await f1.textContent(), /keep.*TTL 7 d.*expires in/s);
    await screenshot(page, 'tenants');

    // f1's view: its own value and integration's fallback, each marked by its source.
    await f1.locator('a').first().click();
    await page.waitForSelector('main[data-rendered=view]');
    await expectRow(page, 'orders/feature.flag', 'on', 'f1');
    assert.match(await row(page, 'orders/feature.flag').locator('.note').textContent(),
        /overrides integration: off/);
    await expectRow(page, 'payments/currency', 'EUR', 'integration');
    assert.equal(await row(page, 'payments/currency').locator('.note').textContent(), 'inherited');
    // A secret stays hidden until asked for.
    const secret = row(page, 'payments/api.key');
    assert.equal(await secret.locator('code').textContent(), '••••••');
    await secret.locator('button[data-reveal]').click();
    assert.match(await secret.locator('code').textContent(), /^[A-Za-z0-9]{16}$/);
    await screenshot(page, 'view');

    // Edit an inherited value: f1 now overrides it.
    await row(page, 'payments/currency').locator('button[data-act=edit]').click();
    await page.locator('[data-testid=edit-value]').fill('USD');
    await page.locator('[data-testid=dialog-save]').click();
    await expectRow(page, 'payments/currency', 'USD', 'f1');

    // Live: a change made elsewhere (a pipeline) appears without a reload, with its revision.
    const put = await server.api('ConfigService/Put',
        {tenant: 'integration', service: 'orders', key: 'log.level', value: 'debug'});
    await expectRow(page, 'orders/log.level', 'debug', 'integration');
    await page.waitForFunction(r => document.querySelector('[data-testid=live]').textContent
        .includes(`revision ${r}`), put.revision, {timeout: 15000});

    // Mask an inherited key: gone from the view, listed as masked.
    await row(page, 'orders/db.pool').locator('button[data-act=mask]').click();
    await page.locator('[data-testid=dialog-mask]').click();
    await page.waitForSelector('tr.masked[data-key="orders/db.pool"]');

    // Diff f1 against its parent: the overridden key and the edited one.
    await page.locator('.tabs a', {hasText: 'Diff with parent'}).click();
    await page.waitForSelector('main[data-rendered=diff] table[data-testid=diff]');
    const diff = page.locator('table[data-testid=diff]');
    assert.match(await diff.locator('tr[data-key="orders/feature.flag"]').textContent(), /changed.*off.*on/s);
    assert.match(await diff.locator('tr[data-key="payments/currency"]').textContent(), /EUR.*USD/s);
    assert.match(await diff.locator('tr[data-key="orders/db.pool"]').textContent(), /removed/);
    await screenshot(page, 'diff');

    // Roll feature.flag back through the dry-run preview and the confirmation.
    await server.api('ConfigService/Put',
        {tenant: 'f1', service: 'orders', key: 'feature.flag', value: 'broken'});
    await open(page, server, '/history/f1/orders/feature.flag');
    const history = page.locator('table[data-testid=history] tbody tr');
    assert.equal(await history.count(), 2);
    await history.nth(1).locator('button[data-rollback]').click();
    const preview = page.locator('dialog table[data-testid=changes] tr[data-key="orders/feature.flag"]');
    assert.match(await preview.locator('.before').textContent(), /broken/);
    assert.match(await preview.locator('.after').textContent(), /on/);
    await screenshot(page, 'rollback');
    assert.equal((await server.api('ConfigService/Get',
        {tenant: 'f1', service: 'orders', key: 'feature.flag'})).entry.value, 'broken',
        'the dry run wrote nothing');
    await page.locator('[data-testid=dialog-roll-back]').click();
    await page.waitForSelector('[data-testid=rollback-done]');
    assert.equal(await history.count(), 3);
    assert.equal((await server.api('ConfigService/Get',
        {tenant: 'f1', service: 'orders', key: 'feature.flag'})).entry.value, 'on');

    // Registry: f1's orders routes its dependency to integration's payments.
    await open(page, server, '/tenant/f1/registry');
    const dependency = page.locator('section[data-service=orders] tr[data-dependency=payments]');
    assert.match(await dependency.textContent(), /\^1\.0.*integration.*1\.4\.0.*payments\.integration/s);
    await screenshot(page, 'registry');

    // Instances: a process of f1's orders follows its view (over SSE here, naming itself as
    // the client library does) and reports what it applied; a new change puts it behind.
    const follower = new AbortController();
    const stream = await fetch(`${server.base}/v1/WatchService/Subscribe`, {
      method: 'POST', signal: follower.signal, headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({tenant: 'f1', services: ['orders'],
                            instance: {instanceId: 'orders-7d9f-x2', service: 'orders', host: 'node-3',
                                       labels: {version: '1.3.0'}}}),
    });
    const reader = stream.body.pipeThrough(new TextDecoderStream()).getReader();
    let received = '';
    while (!received.includes('"snapshotLast":true')) received += (await reader.read()).value;
    const snapshotRevision = /"revision":"(\d+)"/.exec(received)[1];
    await server.api('InstanceService/ReportInstance',
        {tenant: 'f1', instanceId: 'orders-7d9f-x2', appliedRevision: snapshotRevision,
         selfCheck: {state: 'STATE_OK'}});
    await open(page, server, '/tenant/f1/instances');
    const instance = page.locator('table[data-testid=instances] tr[data-instance="orders-7d9f-x2"]');
    assert.equal(await instance.locator('.current').textContent(), 'current');
    assert.equal(await instance.locator('.applied').textContent(), snapshotRevision);
    assert.match(await instance.textContent(), /node-3.*ok.*version=1\.3\.0/s);
    await screenshot(page, 'instances');
    const change = await server.api('ConfigService/Put',
        {tenant: 'f1', service: 'orders', key: 'timeout', value: '5s'});
    await page.locator('#refresh').click();
    await page.waitForFunction(r => document.querySelector(
        'tr[data-instance="orders-7d9f-x2"] .current')?.textContent === `behind: needs ${r}`,
        change.revision);
    assert.match(await page.locator('[data-testid=instances-summary]').textContent(), /1 behind/);
    // A gray release to this instance: the header and the instances page say who sees it.
    const gray = await server.api('ReleaseService/StartGray',
        {tenant: 'f1', audience: {instanceIds: ['orders-7d9f-x2']},
         changes: [{service: 'orders', key: 'timeout', op: 'DRAFT_OP_PUT', value: '1s'}]});
    await page.locator('#refresh').click();  // the page is open already: render it again
    await page.waitForSelector('[data-testid=gray-summary]');
    assert.match(await page.locator('[data-testid=gray-badge]').textContent(),
        new RegExp(`gray release ${gray.gray.grayReleaseId} open`));
    assert.match(await page.locator('[data-testid=gray-summary]').textContent(),
        /instances orders-7d9f-x2.*1 changed keys, seen by 1 live instances/s);
    assert.equal(await instance.locator('[data-testid=in-gray]').count(), 1);
    await server.api('ReleaseService/AbortGray', {tenant: 'f1'});
    follower.abort();

    // Audit, filtered to f1: the console's writes are there.
    await open(page, server, '/audit?tenant=f1&rpc=Rollback');
    const audit = page.locator('table[data-testid=audit] tbody tr');
    assert.equal(await audit.count(), 1);
    assert.match(await audit.textContent(), /Rollback.*f1/s);
    await screenshot(page, 'audit');

    // Deregister f1's orders (the CD cleanup): the open view falls back to integration.
    await open(page, server, '/tenant/f1');
    await server.api('TenantService/Deregister', {tenant: 'f1', services: ['orders']});
    await expectRow(page, 'orders/feature.flag', 'off', 'integration');
    await expectRow(page, 'orders/_endpoint.grpc', 'orders.integration.svc.cluster.local:9090', 'integration');
    assert.deepEqual(pageErrors, []);
  } finally {
    await page.close();
    await server.stop();
  }
});

test('with auth on: sign in with a token; a reader sees secrets redacted and no edit', async () => {
  const admin = 'console-admin-token-1f2e3d';
  const reader = 'console-reader-token-4c5b6a';
  const server = await startServer({policy: adminAndReaderPolicy(admin, reader)});
  const page = await browser.newPage();
  try {
    await server.api('TenantService/Register', {tenant: 'integration', services: [
      {name: 'payments', generatedKeys: [{key: 'api.key', kind: 'GENERATED_KEY_KIND_SECRET', length: 16}],
       defaults: {currency: 'EUR'}}]}, admin);
    // Unauthenticated: the server's message, and a way to sign in that comes back here.
    await open(page, server, '/tenant/integration');
    assert.match(await page.locator('#error').textContent(), /UNAUTHENTICATED: .*token/i);
    await page.locator('#error a').click();
    await page.waitForSelector('main[data-rendered=login]');
    await page.locator('input[name=token]').fill('not-a-token');
    await page.locator('#login button').click();
    await page.waitForFunction(() => /UNAUTHENTICATED/.test(document.querySelector('#error').textContent));
    await page.locator('input[name=token]').fill(reader);
    await page.locator('#login button').click();
    await page.waitForSelector('main[data-rendered=view]');
    assert.match(await page.locator('#identity').textContent(), /token: reader/);
    await expectRow(page, 'payments/currency', 'EUR', 'integration');
    assert.match(await row(page, 'payments/api.key').locator('.value').textContent(), /redacted/);
    assert.equal(await page.locator('button[data-act]').count(), 0, 'a reader gets no edit buttons');
    assert.equal(await page.locator('form#add').count(), 0);

    // An admin may edit.
    await open(page, server, '/login?next=/tenant/integration');
    await page.locator('input[name=token]').fill(admin);
    await page.locator('#login button').click();
    await page.waitForSelector('main[data-rendered=view]');
    assert.ok(await page.locator('button[data-act=edit]').count() > 0);
    assert.doesNotMatch(await row(page, 'payments/api.key').locator('.value').textContent(), /redacted/);
  } finally {
    await page.close();
    await server.stop();
  }
});

test('deep links open their page directly; unknown ones say so', async () => {
  const server = await startServer();
  const page = await browser.newPage();
  try {
    await server.api('TenantService/Register', {tenant: 'integration', services: [{name: 'a'}]});
    await server.api('TenantService/Register', {tenant: 'feat-x', services: [{name: 'a'}]});
    const before = await server.api('ConfigService/Put', {tenant: 'feat-x', service: 'a', key: 'db.url', value: 'v'});
    await server.api('ConfigService/Put', {tenant: 'feat-x', service: 'a', key: 'db.url', value: 'v2'});
    await open(page, server, `/diff?mode=revisions&tenant=feat-x&from=${before.revision}`);
    assert.match(await page.locator('table[data-testid=diff] tr[data-key="a/db.url"]').textContent(),
        /changed.*v.*v2/s);
    await open(page, server, `/history/feat-x/a/db.url`);
    assert.match(await page.locator('h1').textContent(), /History of a\/db\.url in feat-x/);
    assert.equal(await page.locator('table[data-testid=history] tbody tr').count(), 2);
    await open(page, server, '/diff?mode=tenants&tenant=integration&other=feat-x');
    assert.match(await page.locator('[data-testid=diff-summary]').textContent(), /1 differences.*integration.*feat-x/s);
    await open(page, server, '/tenant/nope');
    assert.match(await page.locator('#error').textContent(), /NOT_FOUND: .*nope/);
    await page.goto(`${server.base}/console/#/no/such/page`);
    await page.waitForSelector('text=No such page');
  } finally {
    await page.close();
    await server.stop();
  }
});

test('the API refuses a browser request from another site, and serves the console safely', async () => {
  const server = await startServer();
  try {
    const res = await fetch(`${server.base}/v1/TenantService/Register`, {
      method: 'POST', body: '{"tenant":"evil","services":[{"name":"a"}]}',
      headers: {'Content-Type': 'text/plain', Origin: 'http://evil.example'},
    });
    assert.equal(res.status, 403);
    assert.match((await res.json()).message, /Origin: http:\/\/evil\.example is another site/);
    const tenants = await server.api('TenantService/ListTenants', {});
    assert.deepEqual((tenants.tenants || []).map(t => t.name).filter(n => n === 'evil'), [],
        'nothing was written');
    // A page on a name that resolves to the server (DNS rebinding) is same-origin with it:
    // the name itself must be one the server answers browsers on.
    const rebound = await rawRequest(server.base, 'POST', '/v1/TenantService/Register',
        {Host: `evil.example:${new URL(server.base).port}`,
         Origin: `http://evil.example:${new URL(server.base).port}`,
         'Content-Type': 'application/json'}, '{"tenant":"evil","services":[{"name":"a"}]}');
    assert.equal(rebound.status, 403);
    assert.match(rebound.body, /Host: evil\.example:\d+ is not a name this server answers browsers on/);
    // A cross-site GET (an <img> or <script> elsewhere) carries no Origin, but says where it
    // comes from.
    const crossSite = await rawRequest(server.base, 'GET', '/v1/WatchService/Subscribe?tenant=integration',
        {'Sec-Fetch-Site': 'cross-site'});
    assert.equal(crossSite.status, 403);
    assert.match(crossSite.body, /Sec-Fetch-Site: cross-site/);
    const page = await fetch(`${server.base}/console/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal((await fetch(`${server.base}/console/nope.js`)).status, 404);
    const root = await fetch(`${server.base}/`, {redirect: 'manual'});
    assert.equal(root.headers.get('location'), '/console/');
  } finally {
    await server.stop();
  }
});
