// Headless Chromium for the browser checks (check.js, console.js): a fresh profile every
// run, the page's console messages, errors and failed requests collected into `result`
// (its `console` and `failedRequests` arrays).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

/// Start Chromium at `executable` with `extraArgs`; resolves to { context, page, close },
/// or throws with why (playwright-core missing, no Chromium, it would not start).
async function open(executable, extraArgs, result) {
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed (run npm ci in ${__dirname}): ${e.message}`);
  }
  if (!fs.existsSync(executable)) throw new Error(`${executable} not found (apt-get install -y chromium)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'srs-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: executable,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        ...extraArgs,
      ],
      timeout: 30000,
    });
  } catch (e) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw new Error(`cannot start ${executable}: ${e.message}`);
  }
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    if (result.console.length < 50) result.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => {
    if (result.console.length < 50) result.console.push(`pageerror: ${e.message}`);
  });
  page.on('requestfailed', (r) => {
    if (result.failedRequests.length < 20) {
      result.failedRequests.push(`${r.url()}: ${r.failure() ? r.failure().errorText : '?'}`);
    }
  });
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, close };
}

module.exports = { open };
