// UploadQueue (chunkup/queue) in a page, against the PeerTube fake: the concurrency limit holds
// (counted on the server: overlapping upload sessions), per-file and overall events add up, the
// bytes arrive intact; errors, cancels and pauses settle the way the docs say. In each engine of
// E2E_ENGINES (engines.mjs).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { forEachEngine } from './engines.mjs';
import { WWW, bytes, control, ensureFake, pageServer, sha256 } from './harness.mjs';

const FAKE = process.env.CHUNKUP_PEERTUBE_URL || `http://127.0.0.1:${process.env.PEERTUBE_PORT || 18081}`;
const KB = 1024;

let pages, stopFake;

before(async () => {
  assert.ok(existsSync(join(WWW, 'pkg/queue.js')), 'www/pkg/queue.js is there (bash scripts/build.sh)');
  stopFake = await ensureFake('peertube', FAKE);
  pages = await pageServer();
});

after(async () => {
  await pages?.close();
  await stopFake?.();
});

/** Most upload sessions open at once on the fake: [createdAt, completedAt) intervals of complete uploads. */
function maxOverlap(uploads) {
  const points = uploads.flatMap(u => [[Date.parse(u.createdAt), 1], [Date.parse(u.completedAt ?? u.deletedAt), -1]]);
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // an end before a start at the same ms
  let open = 0, max = 0;
  for (const [, d] of points) max = Math.max(max, (open += d));
  return max;
}

/**
 * Runs a queue in the page: `files` [[name, Buffer]] → what the events said. `script` (a function
 * body run in the page with `queue` and `items`) may pause or cancel things.
 */
async function runQueue(page, session, files, { concurrency, script = '' }) {
  return page.evaluate(async ({ session, files, concurrency, script }) => {
    const { UploadQueue } = await import('./pkg/queue.js');
    const log = { maxUploading: 0, overall: [], perFile: {}, done: [], errors: [], cancelled: [], started: [] };
    const queue = new UploadQueue({
      provider: 'peertube', endpoint: session.endpoint, accessToken: session.token, channelId: session.channelId,
      chunkSize: 256 * 1024, concurrency,
      onFileStart: item => log.started.push(item.name),
      onFileState: () => { log.maxUploading = Math.max(log.maxUploading, queue.items.filter(i => i.state === 'uploading').length); },
      onFileProgress: (item, p) => { (log.perFile[item.name] ??= []).push(p.loaded); },
      onFileDone: item => log.done.push(item.name),
      onFileError: (item, e) => log.errors.push({ name: item.name, code: e.code, message: e.message }),
      onFileCancel: item => log.cancelled.push(item.name),
      onProgress: p => log.overall.push({ loaded: p.loaded, total: p.total, done: p.done })
    });
    const input = files.map(([name, b64]) => new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name, { type: 'video/mp4' }));
    const items = queue.add(input, file => ({ name: file.name.padEnd(3, '_') }));
    await new Function('queue', 'items', `return (async () => { ${script} })()`)(queue, items);
    const settled = await queue.settled();
    return { log, final: queue.progress, states: Object.fromEntries(settled.map(i => [i.name, i.state])), results: settled.map(i => i.result?.video?.uuid ?? null) };
  }, { session, files: files.map(([n, b]) => [n, b.toString('base64')]), concurrency, script });
}

async function newSession(opts = {}) {
  const s = await control(FAKE, 'POST', '/session', opts);
  await control(FAKE, 'POST', `/session/${s.id}/faults`, [{ route: 'chunk', delayMs: 60, count: 100_000 }]);
  return { ...s, endpoint: `${FAKE}/s/${s.id}` };
}

forEachEngine(({ browser, name }) => {
  // One demo page per engine for all its tests.
  let page;
  const demo = () => (page ??= (async () => {
    const p = await (await browser()).newPage();
    await p.goto(`${pages.origin}/`);
    await p.waitForSelector('html[data-ready="1"]');
    return p;
  })());

  describe('UploadQueue', () => {
    test(name('at most `concurrency` uploads at once (counted on the server); totals add up; bytes intact'), async () => {
      const s = await newSession();
      const files = Array.from({ length: 7 }, (_, i) => [`f${i}.mp4`, bytes(300 * KB + i * 150 * KB, 70 + i)]);
      const total = files.reduce((n, [, b]) => n + b.length, 0);
      const r = await runQueue(await demo(), s, files, { concurrency: 3 });
      assert.deepEqual(r.log.errors, []);
      assert.equal(r.log.done.length, 7);
      assert.deepEqual(r.log.started, files.map(([n]) => n), 'started in the order added');
      assert.equal(r.log.maxUploading, 3, 'the page never had more than 3 uploading');
      const ups = (await control(FAKE, 'GET', `/session/${s.id}/uploads`)).filter(u => u.state === 'complete');
      assert.equal(ups.length, 7);
      assert.equal(maxOverlap(ups), 3, 'the server saw at most 3 sessions open at once (and did see 3)');
      for (const [name, data] of files) assert.equal(ups.find(u => u.filename === name).sha256, sha256(data), name);
      // Per file: progress never goes back and ends at the size. Overall: never back, ends at the sum.
      for (const [name, data] of files) {
        const seen = r.log.perFile[name];
        assert.ok(seen.every((v, i) => i === 0 || v >= seen[i - 1]), `${name} monotonic`);
        assert.equal(seen.at(-1), data.length);
      }
      assert.ok(r.log.overall.every((p, i) => i === 0 || p.loaded >= r.log.overall[i - 1].loaded), 'overall monotonic');
      assert.deepEqual({ loaded: r.final.loaded, total: r.final.total, done: r.final.done, files: r.final.files }, { loaded: total, total, done: 7, files: 7 });
      assert.equal(r.log.overall.at(-1).loaded, total);
    });

    test(name('concurrency 1 uploads one file after the other'), async () => {
      const s = await newSession();
      const files = Array.from({ length: 3 }, (_, i) => [`s${i}.mp4`, bytes(400 * KB, 80 + i)]);
      const r = await runQueue(await demo(), s, files, { concurrency: 1 });
      assert.equal(r.log.done.length, 3);
      assert.equal(r.log.maxUploading, 1);
      const ups = (await control(FAKE, 'GET', `/session/${s.id}/uploads`)).filter(u => u.state === 'complete');
      assert.equal(maxOverlap(ups), 1);
    });

    test(name('errors, cancels and pauses: each file settles once; cancelled files leave the totals'), async () => {
      const s = await newSession();
      const files = [
        ['ok1.mp4', bytes(600 * KB, 90)],
        ['empty.mp4', Buffer.alloc(0)], // PeerTube refuses empty files: invalid-input from new Upload
        ['cancel-running.mp4', bytes(1200 * KB, 91)],
        ['cancel-queued.mp4', bytes(300 * KB, 92)],
        ['paused-queued.mp4', bytes(300 * KB, 93)],
        ['ok2.mp4', bytes(400 * KB, 94)]
      ];
      const r = await runQueue(await demo(), s, files, {
        concurrency: 2,
        script: `
          const [ok1, empty, running, queued, paused] = items;
          queued.cancel();                       // never starts
          paused.pause();                        // waits until resumed
          await new Promise(r => { const t = setInterval(() => { if (running.loaded > 0) { clearInterval(t); r(); } }, 5); });
          await running.cancel();                // aborts its session on the server
          await new Promise(r => setTimeout(r, 300));
          if (paused.state !== 'paused') throw new Error('a paused item started: ' + paused.state);
          paused.resume();`
      });
      assert.deepEqual(r.states, {
        'ok1.mp4': 'done', 'empty.mp4': 'error', 'cancel-running.mp4': 'cancelled', 'cancel-queued.mp4': 'cancelled',
        'paused-queued.mp4': 'done', 'ok2.mp4': 'done'
      });
      assert.deepEqual(r.log.errors.map(e => [e.name, e.code]), [['empty.mp4', 'invalid-input']]);
      assert.deepEqual(r.log.cancelled.sort(), ['cancel-queued.mp4', 'cancel-running.mp4']);
      assert.ok(!r.log.started.includes('cancel-queued.mp4'));
      const counted = ['ok1.mp4', 'empty.mp4', 'paused-queued.mp4', 'ok2.mp4'];
      const total = files.filter(([n]) => counted.includes(n)).reduce((n, [, b]) => n + b.length, 0);
      assert.equal(r.final.total, total, 'cancelled files are not in the total');
      assert.equal(r.final.loaded, total);
      assert.deepEqual([r.final.done, r.final.error, r.final.cancelled], [3, 1, 2]);
      const ups = await control(FAKE, 'GET', `/session/${s.id}/uploads`);
      assert.equal(ups.find(u => u.filename === 'cancel-running.mp4').state, 'deleted');
      assert.equal(ups.find(u => u.filename === 'cancel-queued.mp4'), undefined, 'a cancelled queued file sends nothing');
    });

    test(name('bad arguments throw at once'), async () => {
      const r = await (await demo()).evaluate(async () => {
        const { UploadQueue } = await import('./pkg/queue.js');
        const out = [];
        try { new UploadQueue({ concurrency: 0 }); } catch (e) { out.push(e.name); }
        try { new UploadQueue({ provider: 'peertube' }).add(['not a file']); } catch (e) { out.push(e.name); }
        const q = new UploadQueue({});
        out.push((await q.settled()).length); // an empty queue is settled
        return out;
      });
      assert.deepEqual(r, ['RangeError', 'TypeError', 0]);
    });
  });
});
