// Console render benchmark: time to first render in headless chromium (Debian's, driven by
// playwright-core) of (a) a resolved view of K keys, half the branch's own, half inherited,
// and (b) the tenant tree with T tenants, against the real confcenterd on loopback.
// Measured from navigation start (page.goto of the deep link, with a cold page) until the page
// marks itself rendered: HTML, scripts, the API calls and the DOM, as a user waits for them.
//
//   node bench/console_render.mjs [--keys=1000] [--tenants=1000] [--runs=5]
//                                 [--confcenterd=build/confcenterd]
import {launchBrowser, startServer} from '../tests/console/harness.mjs';

const flag = (name, fallback) => {
  const arg = process.argv.find(a => a.startsWith(`--${name}=`));
  return arg ? Number(arg.slice(name.length + 3)) : fallback;
};
const keys = flag('keys', 1000);
const tenants = flag('tenants', 1000);
const runs = flag('runs', 5);

const server = await startServer();
const browser = await launchBrowser();
try {
  // (a) integration and branch `big` hold `keys` keys of service `app` between them.
  await server.api('TenantService/Register', {tenant: 'integration', services: [{name: 'app'}]});
  await server.api('TenantService/Register', {tenant: 'big', services: [{name: 'app'}]});
  for (let start = 0; start < keys; start += 100) {
    const ops = [];
    for (let i = start; i < Math.min(keys, start + 100); i++) {
      ops.push({type: 'TXN_OP_TYPE_PUT', tenant: i % 2 ? 'big' : 'integration', service: 'app',
                key: `key.${String(i).padStart(5, '0')}`, value: `value-${i}-${'x'.repeat(40)}`});
    }
    await server.api('ConfigService/Txn', {ops});
  }
  // (b) `tenants` tenants in all: branches of integration, every tenth with two of its own.
  let made = 2;
  for (let i = 0; made < tenants; i++) {
    const name = `feat-${i}`;
    await server.api('TenantService/Register', {tenant: name, services: [{name: 'app'}], ttl: '604800s'});
    made++;
    for (let j = 0; j < 2 && i % 10 === 0 && made < tenants; j++, made++) {
      await server.api('TenantService/Register',
          {tenant: `${name}-sub-${j}`, parent: name, services: [{name: 'app'}]});
    }
  }
  const measure = async (hash, page, check) => {
    const samples = [];
    for (let r = 0; r < runs; r++) {
      const context = await browser.newContext({viewport: {width: 1280, height: 800}});
      const tab = await context.newPage();
      const started = performance.now();
      await tab.goto(`${server.base}/console/#${hash}`);
      await tab.waitForSelector(`main[data-rendered=${page}]`, {timeout: 60000});
      samples.push(performance.now() - started);
      if (process.env.RENDER_DEBUG) {
        console.log(hash, (performance.now() - started).toFixed(0), await tab.evaluate(() => JSON.stringify({
          render: window.confcenterRender,
          nav: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
          api: performance.getEntriesByType('resource').filter(r => r.name.includes('/v1/')).map(
              r => `${r.name.split('/').pop()} ${r.startTime.toFixed(0)}+${r.duration.toFixed(0)}`)})));
      }
      await check(tab);
      await context.close();
    }
    samples.sort((a, b) => a - b);
    return {median: samples[Math.floor(samples.length / 2)], max: samples[samples.length - 1]};
  };
  const view = await measure('/tenant/big', 'view', async tab => {
    const rows = await tab.locator('table[data-testid=view] tbody tr').count();
    if (rows < keys) throw new Error(`the view shows ${rows} rows, not ${keys}+`);
  });
  const tree = await measure('/tenants', 'tenants', async tab => {
    const items = await tab.locator('[data-testid=tenant-tree] li').count();
    if (items !== tenants) throw new Error(`the tree shows ${items} tenants, not ${tenants}`);
  });
  const row = (what, size, r) => `| ${what.padEnd(32)} | ${String(size).padStart(5)} | ${
      r.median.toFixed(0).padStart(9)} | ${r.max.toFixed(0).padStart(6)} | ${
      r.max < 1000 ? 'yes' : 'NO '}      |`;
  console.log(`console first render, headless chromium, ${runs} cold loads each`);
  console.log('| page                             | size  | median ms | max ms | under 1 s |');
  console.log('|----------------------------------|-------|-----------|--------|-----------|');
  console.log(row('resolved view (keys)', keys, view));
  console.log(row('tenant tree (tenants)', tenants, tree));
} finally {
  await browser.close();
  await server.stop();
}
