// Loads a page in headless Chromium through the DevTools protocol (no npm package: Node's WebSocket) and reports
// what a test needs: console errors and uncaught exceptions, the time until the page says it is ready, and a
// screenshot of one element.
//
//   node --experimental-websocket chromium_page.mjs URL SCREENSHOT.png SELECTOR READY_ATTRIBUTE [TIMEOUT_MS [TEXT_SELECTOR]]
//
// Waits until <body READY_ATTRIBUTE="..."> is set (any value other than "ready" is reported as a failure), then
// scrolls SELECTOR into view and writes its screenshot (CSS pixels, scale 1). Prints one JSON object on stdout:
// {"state": "ready"|"failed"|"timeout", "load_ms": N, "errors": [...], "rect": {"width": W, "height": H}}, with
// "text": the text content of TEXT_SELECTOR when given.
// CHROMIUM (environment) names the browser binary (default "chromium"). Exit code 0 when the object was printed.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, screenshotPath, selector, readyAttribute, timeoutArg, textSelector] = process.argv.slice(2);
if (!url || !screenshotPath || !selector || !readyAttribute) {
  console.error('usage: chromium_page.mjs URL SCREENSHOT.png SELECTOR READY_ATTRIBUTE [TIMEOUT_MS]');
  process.exit(2);
}
if (typeof WebSocket === 'undefined') {
  console.error('chromium_page: this Node has no WebSocket (Node 22, or Node 20 with --experimental-websocket)');
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 60000);
const profile = mkdtempSync(join(tmpdir(), 'pulmo-chromium-'));
const browser = spawn(process.env.CHROMIUM || 'chromium', [
  '--headless', '--no-sandbox', '--no-first-run', '--no-default-browser-check', '--disable-extensions',
  // WebGL 2 without a GPU: ANGLE on SwiftShader (software).
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist',
  '--window-size=1400,1000', '--hide-scrollbars', '--remote-debugging-port=0', `--user-data-dir=${profile}`,
  'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });

let finished = false;
function finish(code, message) {
  if (finished) return;
  finished = true;
  if (message) console.error(message);
  browser.kill('SIGKILL');
  setTimeout(() => { rmSync(profile, { recursive: true, force: true }); process.exit(code); }, 200);
}
setTimeout(() => finish(3, `chromium_page: gave up after ${timeoutMs + 30000} ms`), timeoutMs + 30000);
browser.on('error', (e) => finish(4, `chromium_page: cannot start the browser: ${e.message}`));
browser.on('exit', (code) => finish(4, `chromium_page: the browser exited early (${code})`));

let stderr = '';
browser.stderr.on('data', (chunk) => {
  if (stderr === null) return;
  stderr += chunk;
  const m = stderr.match(/DevTools listening on (ws:\/\/\S+)/);
  if (m) { stderr = null; drive(m[1]).catch((e) => finish(5, `chromium_page: ${e.stack || e}`)); }
});

async function drive(wsUrl) {
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('no DevTools connection')); });
  let nextId = 1;
  const pending = new Map();
  const errors = [];
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(`${msg.error.message} ${msg.error.data || ''}`)); else resolve(msg.result);
      return;
    }
    const p = msg.params || {};
    if (msg.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert'))
      errors.push('console.' + p.type + ': ' + p.args.map((a) => a.value ?? a.description ?? '').join(' '));
    else if (msg.method === 'Runtime.exceptionThrown')
      errors.push('exception: ' + (p.exceptionDetails.exception?.description || p.exceptionDetails.text));
    else if (msg.method === 'Log.entryAdded' && p.entry.level === 'error')
      errors.push('log: ' + p.entry.text + (p.entry.url ? ' (' + p.entry.url + ')' : ''));
  };
  const send = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
  });
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  const page = (method, params) => send(method, params, sessionId);
  await page('Runtime.enable');
  await page('Log.enable');
  await page('Page.enable');
  await page('Emulation.setDeviceMetricsOverride', { width: 1400, height: 1000, deviceScaleFactor: 1, mobile: false });
  const evaluate = async (expression) => (await page('Runtime.evaluate', { expression, returnByValue: true })).result.value;
  const t0 = Date.now();
  await page('Page.navigate', { url });
  let state = null;
  while (Date.now() - t0 < timeoutMs) {
    state = await evaluate(`document.body ? document.body.getAttribute(${JSON.stringify(readyAttribute)}) : null`);
    if (state) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const loadMs = Date.now() - t0;
  const result = { state: state === 'ready' ? 'ready' : state ? 'failed' : 'timeout', detail: state, load_ms: loadMs, errors };
  const rect = await evaluate(`(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return null;
    e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();
    return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height}; })()`);
  if (rect && rect.width > 0 && rect.height > 0) {
    await new Promise((r) => setTimeout(r, 500));  // a frame after scrolling
    const shot = await page('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true,
      clip: { x: rect.x, y: rect.y, width: rect.width, height: rect.height, scale: 1 } });
    writeFileSync(screenshotPath, Buffer.from(shot.data, 'base64'));
    result.rect = { width: Math.round(rect.width), height: Math.round(rect.height) };
  }
  if (textSelector)
    result.text = await evaluate(`(() => { const e = document.querySelector(${JSON.stringify(textSelector)});
      return e ? e.textContent : null; })()`);
  console.log(JSON.stringify(result));
  ws.close();
  finish(0);
}
