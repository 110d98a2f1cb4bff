#!/usr/bin/env node
// Drive SRS's own web console (SRS 6's trunk/research/console, unchanged) in headless
// Chromium against our HTTP API, view by view, and kick a player and a publisher with its
// "Kickoff" links. Prints one JSON object on stdout with what each view showed; exits 0
// when every view filled in, 1 when one did not, 2 when Chromium could not be driven.
//
//   node tests/browser/console.js CONSOLE_URL API_HOST API_PORT STREAM_NAME
//        [--chromium /usr/bin/chromium] [--timeout 30]
//
// CONSOLE_URL is where en_index.html is served, e.g. http://127.0.0.2:8080/console/en_index.html.
// STREAM_NAME is a published stream (with a player) the views must list.
'use strict';

const { open } = require('./chromium');

function usage(why) {
  process.stderr.write(`console.js: ${why}\nusage: node console.js CONSOLE_URL API_HOST API_PORT STREAM_NAME [--chromium PATH] [--timeout S]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { chromium: '/usr/bin/chromium', timeout: 30 };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--chromium') opts.chromium = next();
    else if (a === '--timeout') opts.timeout = Number(next());
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else rest.push(a);
  }
  if (rest.length !== 4) usage('give CONSOLE_URL API_HOST API_PORT STREAM_NAME');
  [opts.base, opts.host, opts.port, opts.stream] = rest;
  return opts;
}

const result = {
  ok: false,
  step: null,
  summary: null,
  vhosts: null,
  streams: null,
  stream: null,
  clients: null,
  kickedPlayer: null,
  kickedPublisher: null,
  error: null,
  console: [],
  failedRequests: [],
};

function report(code) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(code);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let browser;
  try {
    browser = await open(opts.chromium, [], result);
  } catch (e) {
    result.error = e.message;
    report(2);
  }
  const { page } = browser;
  let code = 1;
  try {
    // The console keeps its API server in the hash's query, as an operator opens it.
    const q = `?host=${encodeURIComponent(opts.host)}&port=${encodeURIComponent(opts.port)}`;
    const view = async (name, route, ready) => {
      result.step = name;
      await page.goto(`${opts.base}#${route}${q}`, { waitUntil: 'load', timeout: 15000 });
      // Angular routes on the hash: a goto to another hash of the same page only routes.
      await page.evaluate(() => window.dispatchEvent(new HashChangeEvent('hashchange')));
      const deadline = Date.now() + opts.timeout * 1000;
      for (;;) {
        const text = await page.evaluate(() => document.body.innerText);
        const got = ready(text);
        if (got) return got;
        if (Date.now() > deadline) throw new Error(`${name}: the view did not fill in; it shows:\n${text.slice(0, 2000)}`);
        await page.waitForTimeout(300);
      }
    };
    const rows = () => page.$$eval('table tr', (trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, ' ').trim()));

    // The summary computes bandwidth from two samples (it asks every 3 s): wait for it.
    result.summary = await view('summary', '/summaries', (t) => {
      const m = t.match(/SRS\/(\S+)/);
      const bandwidth = /Network\s+\d+ \/ [1-9][\d.]*Kbps/.test(t);
      return m && bandwidth && /Load/.test(t) && /OS System/.test(t) ? t.slice(0, 3000) : null;
    });
    result.vhosts = await view('vhosts', '/vhosts', (t) => (/__defaultVhost__\s+Enabled\s+1\D+2\D+[1-9][\d.]*Kbps/.test(t) ? t.slice(0, 3000) : null));
    await view('streams', '/streams', (t) => (t.includes(opts.stream) && /H264/.test(t) ? t : null));
    result.streams = (await rows()).filter((r) => r.includes(opts.stream));

    // The stream's own page, by its link in the list.
    result.step = 'stream page';
    const row = page.locator('tr', { hasText: opts.stream }).first();
    await row.locator('td').first().locator('a').click();
    const deadline = Date.now() + opts.timeout * 1000;
    for (;;) {
      const t = await page.evaluate(() => `${location.hash}\n${document.body.innerText}`);
      if (/#\/streams\/\S+/.test(t) && t.includes(opts.stream)) {
        result.stream = t.slice(0, 3000);
        break;
      }
      if (Date.now() > deadline) throw new Error(`stream page: not shown:\n${t.slice(0, 2000)}`);
      await page.waitForTimeout(300);
    }

    // Kick the player from the clients view ("Kickoff It" on a play client).
    await view('clients', '/clients', (t) => (/Play/.test(t) && /Publish/.test(t) ? t : null));
    result.clients = await rows();
    const player = page.locator('tr', { hasText: 'Play' }).filter({ hasText: opts.stream }).first();
    result.kickedPlayer = (await player.locator('td').first().innerText()).trim();
    await player.getByText('Kickoff It').click();

    // Kick the publisher from the streams view ("Kickoff" on the stream).
    await view('streams again', '/streams', (t) => (t.includes(opts.stream) ? t : null));
    const stream = page.locator('tr', { hasText: opts.stream }).first();
    result.kickedPublisher = (await stream.locator('td').first().innerText()).trim();
    await stream.getByText('Kickoff', { exact: true }).click();
    // Give the JSONP kick its round trip before the browser goes.
    await page.waitForTimeout(1500);
    result.ok = true;
    result.step = 'done';
    code = 0;
  } catch (e) {
    result.error = e && e.message ? e.message : String(e);
  } finally {
    await browser.close();
  }
  report(code);
}

main().catch((e) => {
  result.error = `console.js: ${e && e.stack ? e.stack : e}`;
  report(2);
});
