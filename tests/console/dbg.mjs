import {startServer, launchBrowser} from './harness.mjs';
const s = await startServer();
const b = await launchBrowser();
try {
  await s.api('TenantService/Register', {tenant: 'integration', services: [{name: 'orders'}]});
  await s.api('TenantService/Register', {tenant: 'f1', services: [{name: 'orders'}]});
  const page = await b.newPage();
  page.on('console', m => console.log('console:', m.text()));
  page.on('request', r => console.log('req', r.url()));
  page.on('requestfinished', r => console.log('fin', r.url()));
  await page.goto(`${s.base}/console/#/tenant/f1`);
  await page.waitForSelector('main[data-rendered]');
  await page.waitForTimeout(500);
  console.log('live:', await page.locator('#live').textContent());
  await s.api('ConfigService/Put', {tenant: 'integration', service: 'orders', key: 'c', value: 'EUR'});
  await page.waitForTimeout(500);
  await page.locator('tr[data-key="orders/c"] button[data-act=edit]').click();
  await page.locator('[data-testid=edit-value]').fill('USD');
  await page.locator('[data-testid=dialog-save]').click();
  await page.waitForTimeout(500);
  console.log('after edit', await page.locator('table').textContent());
  const put = await s.api('ConfigService/Put', {tenant: 'integration', service: 'orders', key: 'log.level', value: 'debug'});
  console.log('put', put.revision);
  await page.waitForTimeout(2000);
  console.log('live:', await page.locator('#live').textContent(), await page.locator('table').textContent());
} finally { await b.close(); await s.stop(); }
