// What the console's browser test and its render benchmark share: a real confcenterd on
// loopback ports of its own with a RocksDB data dir in a temp dir, its HTTP/JSON API, and
// Debian's chromium driven by playwright-core.
import {spawn} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {chromium} from 'playwright-core';

// The confcenterd binary: argv's --confcenterd=PATH, else build/confcenterd.
export function confcenterdPath() {
  const flag = process.argv.find(a => a.startsWith('--confcenterd='));
  return flag ? flag.slice('--confcenterd='.length) : new URL('../../build/confcenterd', import.meta.url).pathname;
}

// Resolves once `file` exists, or rejects after `seconds` (the server writes it when ready).
function waitForFile(file, seconds, child) {
  return new Promise((resolve, reject) => {
    if (existsSync(file)) return resolve();
    const dir = join(file, '..');
    const watcher = watch(dir, () => {
      if (existsSync(file)) done(null);
    });
    const timer = setTimeout(() => done(new Error(`${file} did not appear in ${seconds} s`)), seconds * 1000);
    const onExit = code => done(new Error(`confcenterd exited (${code}) before it listened`));
    child.once('exit', onExit);
    function done(error) {
      watcher.close();
      clearTimeout(timer);
      child.off('exit', onExit);
      error ? reject(error) : resolve();
    }
    if (existsSync(file)) done(null);
  });
}

// A confcenterd with its own data dir. `options.policy(dir)` may write an access policy and
// return its path.
export async function startServer(options = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'confcenter-console-'));
  const args = [
    '--listen=127.0.0.1:0', `--data_dir=${dir}/data`, `--port_file=${dir}/port`,
    '--admin_listen=127.0.0.1:0', `--admin_port_file=${dir}/admin_port`,
    '--http_listen=127.0.0.1:0', `--http_port_file=${dir}/http_port`,
  ];
  if (options.policy) args.push(`--auth_policy=${options.policy(dir)}`);
  let log = '';
  const child = spawn(confcenterdPath(), args, {stdio: ['ignore', 'pipe', 'pipe']});
  child.stdout.on('data', d => { log += d; });
  child.stderr.on('data', d => { log += d; });
  try {
    await waitForFile(`${dir}/port`, 30, child);  // written last, once every listener is up
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${error.message}\n${log}`);
  }
  const httpPort = Number(readFileSync(`${dir}/http_port`, 'utf8').trim());
  const base = `http://127.0.0.1:${httpPort}`;
  return {
    base,
    log: () => log,
    // Calls `method` ("ConfigService/Put") over the HTTP/JSON API; throws on an error reply.
    async api(method, request = {}, token = '') {
      const headers = {'Content-Type': 'application/json'};
      if (token) headers.Authorization = `Bearer ${token}`;
      const res = await fetch(`${base}/v1/${method}`, {method: 'POST', headers, body: JSON.stringify(request)});
      const body = await res.json();
      if (!res.ok) throw new Error(`${method}: ${res.status} ${body.status}: ${body.message}`);
      return body;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise(resolve => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, {recursive: true, force: true});
    },
  };
}

// A policy with two static tokens: `admin` may do anything, `reader` may read (no secrets).
export function adminAndReaderPolicy(adminToken, readerToken) {
  return dir => {
    const sha = t => createHash('sha256').update(t).digest('hex');
    writeFileSync(`${dir}/tokens.yaml`, `tokens:\n  - name: admin\n    sha256: ${sha(adminToken)}\n` +
        `  - name: reader\n    sha256: ${sha(readerToken)}\n`);
    writeFileSync(`${dir}/policy.yaml`, `authentication:\n  static_tokens_file: ${dir}/tokens.yaml\n` +
        'bindings:\n  - subjects: [{kind: token, name: admin}]\n    roles: [admin]\n    tenants: ["*"]\n' +
        '  - subjects: [{kind: token, name: reader}]\n    roles: [reader]\n    tenants: ["*"]\n');
    return `${dir}/policy.yaml`;
  };
}

// Debian's chromium, headless (CHROMIUM_PATH overrides /usr/bin/chromium).
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    // No sandbox (tests run as root in CI); /tmp rather than a small /dev/shm in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}
