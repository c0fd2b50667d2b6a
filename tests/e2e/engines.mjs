// One thin adapter over three browser engines, so that each page test is written once:
//
//   chromium  Debian's Chromium through playwright-core
//   firefox   Debian's Firefox ESR through puppeteer-core (WebDriver BiDi)
//   webkit    WebKitGTK's MiniBrowser through WebKitWebDriver (plain W3C WebDriver, a small client
//             over node:http below); it has no headless mode: without $DISPLAY an Xvfb is started
//
// A page offers what the tests need and nothing more: goto/reload, evaluate(fn, arg) (fn runs in
// the page; it may be async; arg and result are JSON data), $eval, waitFor/waitForSelector,
// click/fill/check/textContent (done with the DOM in the page, the same in every engine),
// setFiles (the File objects are made in the page and assigned through a DataTransfer: no
// driver-specific upload API), screenshot, errors() (uncaught errors and unhandled rejections of
// the page, plus console.error calls) and close().
//
// E2E_ENGINES (comma list, default all three) picks the engines. An engine that is picked but not
// installed fails its tests with a message saying what is missing: it is never skipped silently.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { after, describe } from 'node:test';
import http from 'node:http';
import net from 'node:net';

export const ALL_ENGINES = ['chromium', 'firefox', 'webkit'];
export const ENGINES = (process.env.E2E_ENGINES || ALL_ENGINES.join(','))
  .split(',').map(s => s.trim()).filter(Boolean);
for (const e of ENGINES) if (!ALL_ENGINES.includes(e)) throw new Error(`E2E_ENGINES: unknown engine '${e}' (known: ${ALL_ENGINES.join(', ')})`);

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER || '/usr/bin/WebKitWebDriver';
const MINIBROWSER = process.env.MINIBROWSER || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const INSTALL = {
  chromium: `${CHROMIUM} missing: apt-get install -y chromium (bash .ci/setup.sh)`,
  firefox: `${FIREFOX} missing: apt-get install -y firefox-esr (bash .ci/setup.sh)`,
  webkit: `${WEBKIT_DRIVER} or ${MINIBROWSER} missing: apt-get install -y --no-install-recommends webkit2gtk-driver xvfb xauth (bash .ci/setup.sh)`
};

const sleep = ms => new Promise(r => setTimeout(r, ms));

/** In-page capture of errors, for engines whose driver reports none (WebKit over W3C WebDriver). */
export const ERROR_CAPTURE = `(() => {
  if (window.__e2eErrors) return;
  const errors = window.__e2eErrors = [];
  addEventListener('error', e => errors.push(String(e.message) + (e.error?.stack ? ' ' + e.error.stack : '')));
  addEventListener('unhandledrejection', e => errors.push('unhandled rejection: ' + String(e.reason?.stack || e.reason?.message || e.reason)));
  const ce = console.error.bind(console);
  console.error = (...a) => { errors.push('console.error: ' + a.map(String).join(' ')); ce(...a); };
})()`;

/**
 * Starts `engine` → { name, newPage({ viewport }), close() }. `insecureCerts`: accept self-signed
 * HTTPS certificates (the api.video fake).
 */
export async function launchEngine(engine, { insecureCerts = false } = {}) {
  if (engine === 'chromium') return launchChromium({ insecureCerts });
  if (engine === 'firefox') return launchFirefox({ insecureCerts });
  if (engine === 'webkit') return launchWebKit({ insecureCerts });
  throw new Error(`unknown engine ${engine}`);
}

/**
 * Declares the tests of `body` once per engine of E2E_ENGINES, each group in its own describe with
 * its own browser (started by the first test that asks, closed after the group): `body({ engine,
 * browser, name })`, `browser()` → the launched engine, `name(title)` → `${title} [${engine}]`
 * (scripts/test.sh counts the tests per engine by that suffix). A browser that cannot start fails
 * every test of its engine with the reason.
 */
export function forEachEngine(body, opts = {}) {
  for (const engine of ENGINES) {
    describe(`${engine}`, () => {
      let launched;
      const browser = () => (launched ??= launchEngine(engine, opts));
      after(async () => {
        const b = await launched?.catch(() => null);
        await b?.close();
      });
      body({ engine, browser, name: title => `${title} [${engine}]` });
    });
  }
}

// ---- the page every engine returns ------------------------------------------------------------------
class Page {
  /** `d`: { eval(src, arg), goto(url), reload(), screenshot(path), errors(), close(), raw } */
  constructor(engine, d) {
    this.engine = engine;
    this.d = d;
    this.raw = d.raw; // the driver's own page object (Playwright page for chromium), for engine-only extras
  }

  goto(url) { return this.d.goto(url); }
  reload() { return this.d.reload(); }
  close() { return this.d.close(); }
  screenshot(path) { return this.d.screenshot(path); }
  /**
   * Uncaught errors and unhandled rejections of the page so far; with `{ console: true }` also its
   * console errors (console.error calls; in Chromium and Firefox also the browser's own messages).
   */
  async errors({ console = false } = {}) {
    return (await this.d.errors()).filter(e => console || !e.startsWith('console.error:'));
  }

  /** Runs `fn(arg)` in the page (fn: a function or its source) and awaits its result. */
  evaluate(fn, arg = null) {
    return this.d.eval(typeof fn === 'function' ? fn.toString() : fn, arg);
  }

  /** `fn(element, arg)` on the first element matching `sel` (an error if there is none). */
  $eval(sel, fn, arg = null) {
    const src = `async ({ sel, arg }) => {
      const el = document.querySelector(sel);
      if (!el) throw new Error('no element matches ' + sel);
      return (${fn.toString()})(el, arg);
    }`;
    return this.evaluate(src, { sel, arg });
  }

  /**
   * Polls `fn(arg)` in the page until it is truthy (errors while the page navigates count as not
   * yet) → its value. `timeout` only stops a hung test; no test depends on it.
   */
  async waitFor(fn, arg = null, { timeout = 120_000, what } = {}) {
    const end = Date.now() + timeout;
    let last;
    while (Date.now() < end) {
      try {
        const v = await this.evaluate(fn, arg);
        if (v) return v;
      } catch (e) {
        last = e;
      }
      await sleep(25);
    }
    throw new Error(`[${this.engine}] timed out waiting for ${what ?? fn.toString()}${last ? ` (last error: ${last.message})` : ''}`);
  }

  waitForSelector(sel, opts = {}) {
    return this.waitFor(s => !!document.querySelector(s), sel, { what: sel, ...opts });
  }

  click(sel) { return this.$eval(sel, el => { el.click(); }); }
  textContent(sel) { return this.$eval(sel, el => el.textContent); }
  /** Sets a text/number input like a user would: value, then input and change events. */
  fill(sel, value) {
    return this.$eval(sel, (el, v) => {
      el.focus();
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }, String(value));
  }
  check(sel) { return this.$eval(sel, el => { if (!el.checked) el.click(); }); }

  /**
   * Puts `files` ([{ name, type, buffer, lastModified? }]) into <input type=file> `sel`: the
   * bytes go to the page as base64, become File objects there and are assigned through a
   * DataTransfer; then input and change fire, as for a user's pick.
   */
  setFiles(sel, files) {
    const list = (Array.isArray(files) ? files : [files]).map(f => ({
      name: f.name, type: f.type ?? 'application/octet-stream', lastModified: f.lastModified ?? null, b64: Buffer.from(f.buffer).toString('base64')
    }));
    return this.$eval(sel, async (el, list) => {
      const dt = new DataTransfer();
      for (const f of list) {
        const bytes = await (await fetch(`data:application/octet-stream;base64,${f.b64}`)).arrayBuffer();
        const opts = { type: f.type };
        if (f.lastModified !== null) opts.lastModified = f.lastModified;
        dt.items.add(new File([bytes], f.name, opts));
      }
      el.files = dt.files;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
      return el.files.length;
    }, list);
  }
}

/** The in-page side of evaluate: `src` is a function's source, applied to `arg`. */
const APPLY = ([src, arg]) => (0, eval)(`(${src})`)(arg); // eslint-disable-line no-eval

// ---- Chromium: playwright-core ------------------------------------------------------------------------
async function launchChromium({ insecureCerts }) {
  if (!existsSync(CHROMIUM)) throw new Error(`[chromium] ${INSTALL.chromium}`);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      ...(insecureCerts ? ['--ignore-certificate-errors'] : []),
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1']
  });
  return {
    name: 'chromium',
    async newPage({ viewport = { width: 1000, height: 1200 } } = {}) {
      const ctx = await browser.newContext({ viewport, ignoreHTTPSErrors: insecureCerts });
      const p = await ctx.newPage();
      const errors = [];
      p.on('pageerror', e => errors.push(String(e.stack || e.message)));
      p.on('console', m => { if (m.type() === 'error') errors.push(`console.error: ${m.text()} ${m.location().url}`); });
      return new Page('chromium', {
        raw: p,
        eval: (src, arg) => p.evaluate(APPLY, [src, arg]),
        goto: async url => { await p.goto(url); },
        reload: async () => { await p.reload(); },
        screenshot: path => p.screenshot({ path, fullPage: true }),
        errors: async () => [...errors],
        close: () => ctx.close()
      });
    },
    close: () => browser.close()
  };
}

// ---- Firefox: puppeteer-core over WebDriver BiDi --------------------------------------------------
async function launchFirefox({ insecureCerts }) {
  if (!existsSync(FIREFOX)) throw new Error(`[firefox] ${INSTALL.firefox}`);
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({
    browser: 'firefox', executablePath: FIREFOX, headless: true, acceptInsecureCerts: insecureCerts
  });
  return {
    name: 'firefox',
    async newPage({ viewport = { width: 1000, height: 1200 } } = {}) {
      const ctx = await browser.createBrowserContext();
      const p = await ctx.newPage();
      await p.setViewport(viewport);
      const errors = [];
      p.on('pageerror', e => errors.push(String(e.stack || e.message || e)));
      p.on('console', m => { if (m.type() === 'error') errors.push(`console.error: ${m.text()}`); });
      return new Page('firefox', {
        raw: p,
        eval: (src, arg) => p.evaluate(APPLY, [src, arg]),
        goto: async url => { await p.goto(url, { waitUntil: 'load' }); },
        reload: async () => { await p.reload({ waitUntil: 'load' }); },
        screenshot: path => p.screenshot({ path, fullPage: true }),
        errors: async () => [...errors],
        close: () => ctx.close()
      });
    },
    close: () => browser.close()
  };
}

// ---- WebKit: WebKitWebDriver, plain W3C WebDriver ---------------------------------------------------

/** One JSON request to a WebDriver server (node:http: no client-side timeout on long scripts). */
function wd(base, method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request(`${base}${path}`, {
      method, headers: data ? { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': data.length } : {}
    }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return reject(new Error(`WebDriver ${method} ${path}: HTTP ${res.statusCode}, not JSON`));
        }
        const v = json?.value;
        if (res.statusCode >= 400 || v?.error) return reject(new Error(`WebDriver ${method} ${path}: ${v?.error}: ${v?.message}`));
        resolve(v);
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function freePort() {
  const srv = net.createServer();
  await new Promise(r => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise(r => srv.close(r));
  return port;
}

/** An X display for WebKit: $DISPLAY when set (xvfb-run), else an Xvfb of our own → { display, stop }. */
async function display() {
  if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) return { display: process.env.DISPLAY, stop: () => {} };
  const child = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  const num = await new Promise((resolve, reject) => {
    let s = '';
    child.on('error', e => reject(new Error(`[webkit] no $DISPLAY and Xvfb did not start (${e.message}): apt-get install -y xvfb, or run under xvfb-run -a`)));
    child.stdio[3].on('data', d => { s += d; if (s.includes('\n')) resolve(s.trim()); });
    child.on('exit', c => reject(new Error(`[webkit] Xvfb exited (${c})`)));
  });
  return { display: `:${num}`, stop: () => child.kill() };
}

async function launchWebKit({ insecureCerts }) {
  if (!existsSync(WEBKIT_DRIVER) || !existsSync(MINIBROWSER)) throw new Error(`[webkit] ${INSTALL.webkit}`);
  const x = await display();
  const drivers = new Set();
  return {
    name: 'webkit',
    // One WebKitWebDriver (and so one MiniBrowser) per page: pages are isolated like a new
    // browser context, and two pages can be open at once.
    async newPage({ viewport = { width: 1000, height: 1200 } } = {}) {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const child = spawn(WEBKIT_DRIVER, [`--port=${port}`], { env: { ...process.env, DISPLAY: x.display }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', d => { stderr = (stderr + d).slice(-4000); });
      drivers.add(child);
      const stopDriver = () => { drivers.delete(child); child.kill(); };
      try {
        for (let i = 0; ; i++) {
          try {
            await wd(base, 'GET', '/status');
            break;
          } catch (e) {
            if (i > 200 || child.exitCode !== null) throw new Error(`[webkit] WebKitWebDriver did not start: ${e.message} ${stderr}`);
            await sleep(25);
          }
        }
        const caps = {
          browserName: 'MiniBrowser', acceptInsecureCerts: insecureCerts, pageLoadStrategy: 'normal',
          timeouts: { script: 600_000, pageLoad: 120_000, implicit: 0 },
          'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] }
        };
        const { sessionId } = await wd(base, 'POST', '/session', { capabilities: { alwaysMatch: caps } });
        const s = (method, path, body) => wd(base, method, `/session/${sessionId}${path}`, body);
        await s('POST', '/window/rect', viewport).catch(() => {});
        const capture = () => s('POST', '/execute/sync', { script: `${ERROR_CAPTURE}; return true;`, args: [] });
        return new Page('webkit', {
          raw: null,
          async eval(src, arg) {
            const script = `const done = arguments[arguments.length - 1];
              Promise.resolve().then(() => (0, eval)('(' + arguments[0] + ')')(arguments[1]))
                .then(v => done({ ok: v === undefined ? null : v }), e => done({ err: String((e && (e.stack || e.message)) || e), message: String(e && e.message || e) }));`;
            const r = await s('POST', '/execute/async', { script, args: [src, arg] });
            if (r && 'err' in r) {
              const e = new Error(r.message);
              e.stack = `Error (in the page): ${r.err}`;
              throw e;
            }
            return r?.ok;
          },
          goto: async url => { await s('POST', '/url', { url }); await capture(); },
          reload: async () => { await s('POST', '/refresh', {}); await capture(); },
          async screenshot(path) { writeFileSync(path, Buffer.from(await s('GET', '/screenshot'), 'base64')); },
          errors: async () => s('POST', '/execute/sync', { script: 'return window.__e2eErrors ? [...window.__e2eErrors] : [];', args: [] }),
          async close() {
            await s('DELETE', '').catch(() => {});
            stopDriver();
          }
        });
      } catch (e) {
        stopDriver();
        throw e;
      }
    },
    async close() {
      for (const c of drivers) c.kill();
      drivers.clear();
      x.stop();
    }
  };
}
