// The api.video comparison page (tests/e2e/apivideo/index.html) in one engine (engines.mjs) against
// the api.video fake over HTTPS (self-signed), for the bench and tests/bench/avprobe.mjs.
import https from 'node:https';
import { launchEngine } from '../e2e/engines.mjs';
import { createStaticServer, REPO_ROOT } from '../servers/common.mjs';
import { createApiVideoApp } from '../servers/apivideo/app.mjs';
import { selfSignedCert } from '../servers/apivideo/tls.mjs';

/**
 * Starts the fake and the page in `engine` (default chromium); `ctl(method, path, body)` talks to
 * the fake's control API; `page` is an engines.mjs page (`page.raw`: Playwright's, in Chromium).
 */
export async function openApiVideoPage(engine = 'chromium') {
  const fake = createApiVideoApp();
  const tls = https.createServer(selfSignedCert(), fake.app);
  tls.requestTimeout = 0;
  await new Promise(r => tls.listen(0, '127.0.0.1', r));
  const apiHost = `127.0.0.1:${tls.address().port}`;
  const stat = createStaticServer({ root: REPO_ROOT });
  await new Promise(r => stat.listen(0, '127.0.0.1', r));
  const browser = await launchEngine(engine, { insecureCerts: true });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${stat.address().port}/tests/e2e/apivideo/index.html`);
  await page.evaluate(() => window.ready);
  const ctl = (method, path, body) => new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: tls.address().port, method, path: `/__control${path}`, rejectUnauthorized: false, headers: { 'Content-Type': 'application/json' } }, res => {
      let d = '';
      res.on('data', c => { d += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(d ? JSON.parse(d) : null) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
  const close = async () => {
    await browser.close();
    stat.close();
    tls.closeAllConnections();
    tls.close();
  };
  return { apiHost, page, ctl, close };
}
