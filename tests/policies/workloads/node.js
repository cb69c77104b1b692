// Real work for Node.js under policies/seccomp/agent.json (tests/unit/test_seccomp.c runs it
// with node -e): files, fs.watch (inotify), subprocesses, a worker thread, a TCP echo over
// 127.0.0.1, timers, crypto, netlink (os.networkInterfaces), DNS via getaddrinfo, zlib.
// Exits 0 when every step worked.
'use strict';
const fs = require('fs'), os = require('os'), path = require('path');
const net = require('net'), cp = require('child_process'), crypto = require('crypto');
const { Worker } = require('worker_threads');
const assert = require('assert');
async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-sc-'));
  const f = path.join(dir, 'a.txt');
  fs.writeFileSync(f, 'hello');
  assert.strictEqual(fs.readFileSync(f, 'utf8'), 'hello');
  await fs.promises.appendFile(f, ' world');
  assert.strictEqual((await fs.promises.readFile(f, 'utf8')), 'hello world');
  fs.renameSync(f, f + '.2'); fs.statSync(f + '.2'); fs.readdirSync(dir);
  const w = fs.watch(dir); w.close();
  fs.rmSync(dir, { recursive: true });
  assert.strictEqual(cp.execFileSync('/bin/echo', ['sub']).toString(), 'sub\n');
  const r = cp.spawnSync('/bin/sh', ['-c', 'exit 3']); assert.strictEqual(r.status, 3);
  await new Promise((res, rej) => { const c = cp.spawn('/bin/cat'); let o = ''; c.stdout.on('data', d => o += d);
    c.on('close', code => code === 0 && o === 'piped' ? res() : rej(new Error('cat ' + code + ' ' + o))); c.stdin.end('piped'); });
  const n = await new Promise((res, rej) => { const wk = new Worker('const {parentPort}=require("worker_threads");let s=0;for(let i=0;i<1e6;i++)s+=i;parentPort.postMessage(s);', { eval: true });
    wk.on('message', res); wk.on('error', rej); });
  assert.strictEqual(n, 499999500000);
  const echo = await new Promise((res, rej) => {
    const srv = net.createServer(s => s.pipe(s)).listen(0, '127.0.0.1', () => {
      const c = net.connect(srv.address().port, '127.0.0.1', () => c.write('ping'));
      c.on('data', d => { c.end(); srv.close(); res(d.toString()); }); c.on('error', rej); }); });
  assert.strictEqual(echo, 'ping');
  await new Promise(res => setTimeout(res, 20));
  await new Promise(res => setImmediate(res));
  assert.strictEqual(crypto.randomBytes(16).length, 16);
  crypto.createHash('sha256').update('x').digest('hex');
  await new Promise((res, rej) => crypto.pbkdf2('p', 's', 1000, 32, 'sha256', e => e ? rej(e) : res()));
  os.networkInterfaces(); os.cpus(); os.hostname(); os.userInfo();
  await new Promise((res, rej) => require('dns').lookup('localhost', e => e ? rej(e) : res()));
  await require('zlib').gzipSync(Buffer.alloc(1000));
}
main().then(() => process.exit(0), e => { console.error(e); process.exit(1); });
