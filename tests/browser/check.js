#!/usr/bin/env node
// Load the player page in headless Chromium and check that the video plays: its
// currentTime must advance by at least --min-advance seconds of playback (from the first
// time the page reports playing; seeks towards the live edge do not count) within --timeout
// seconds. Prints one JSON object on stdout and
// exits 0 when it played, 1 when it did not, 2 when Chromium could not be driven.
//
//   node tests/browser/check.js 'http://127.0.0.1:8080/players/?url=http://127.0.0.1:8080/live/livestream.flv'
//        [--min-advance 2] [--timeout 30] [--chromium /usr/bin/chromium] [--screenshot out.png]
//        [--expect-stream live/livestream]
//
// --expect-stream also requires the page's stream list (read from the HTTP API) to show
// that stream before the deadline.
//
// Run `npm ci` in this folder first (tests/tests/browser.rs and .ci/run do).
'use strict';

const { open } = require('./chromium');

function parseArgs(argv) {
  const opts = {
    minAdvance: 2,
    timeout: 30,
    chromium: '/usr/bin/chromium',
    screenshot: null,
    expectStream: null,
  };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--min-advance') opts.minAdvance = Number(next());
    else if (a === '--timeout') opts.timeout = Number(next());
    else if (a === '--chromium') opts.chromium = next();
    else if (a === '--screenshot') opts.screenshot = next();
    else if (a === '--expect-stream') opts.expectStream = next();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else rest.push(a);
  }
  if (rest.length !== 1) usage('give exactly one page URL');
  if (!(opts.minAdvance > 0) || !(opts.timeout > 0)) usage('bad number');
  opts.url = rest[0];
  return opts;
}

function usage(why) {
  process.stderr.write(`check.js: ${why}\nusage: node check.js PAGE_URL [--min-advance S] [--timeout S] [--chromium PATH] [--screenshot PNG] [--expect-stream APP/STREAM]\n`);
  process.exit(2);
}

function report(result, code) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(code);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const result = {
    ok: false,
    page: opts.url,
    minAdvance: opts.minAdvance,
    advanced: 0, // seconds of currentTime that played (jumps left out)
    jumps: [], // seeks seen while playing, seconds (+ forward, - back)
    startCurrentTime: null,
    endCurrentTime: null,
    msToReady: null,
    streamListed: null,
    msTotal: 0,
    state: null,
    error: null,
    console: [],
    failedRequests: [],
  };

  const started = Date.now();
  let browser;
  try {
    browser = await open(opts.chromium, ['--disable-quic', '--autoplay-policy=no-user-gesture-required'], result);
  } catch (e) {
    result.error = e.message;
    report(result, 2);
  }
  const { page } = browser;

  let code = 1;
  try {
    const resp = await page.goto(opts.url, { waitUntil: 'load', timeout: 15000 });
    if (!resp || !resp.ok()) throw new Error(`page ${opts.url}: HTTP ${resp ? resp.status() : 'no response'}`);

    const deadline = started + opts.timeout * 1000;
    let played = 0;
    let last = null;
    for (;;) {
      const s = await page.evaluate(() => {
        const v = document.querySelector('video');
        const st = window.playerState || {};
        return {
          ready: !!st.ready,
          error: st.error || null,
          currentTime: v ? v.currentTime : (st.currentTime || 0),
          engine: st.engine || null,
          kind: st.kind || null,
          url: st.url || null,
          paused: v ? v.paused : null,
          readyState: v ? v.readyState : null,
          videoWidth: v ? v.videoWidth : 0,
          videoHeight: v ? v.videoHeight : 0,
          listed: Array.from(document.querySelectorAll('#streams tbody tr td:first-child'))
            .map((td) => td.textContent),
        };
      });
      const listed = s.listed;
      delete s.listed;
      if (opts.expectStream) result.streamListed = listed.includes(opts.expectStream);
      result.state = s;
      if (s.ready && result.startCurrentTime === null) {
        result.startCurrentTime = s.currentTime;
        result.msToReady = Date.now() - started;
      }
      if (result.startCurrentTime !== null) {
        // Count time that played, not jumps: a live player may seek towards the live edge
        // (mpegts.js latency chasing, hls.js live sync), which moves currentTime at once.
        const now = Date.now();
        if (last) {
          const d = s.currentTime - last.currentTime;
          const wall = (now - last.at) / 1000;
          if (d > 0 && d <= wall * 1.5 + 0.3) played += d;
          else if (d !== 0) result.jumps.push(Number(d.toFixed(3)));
        }
        last = { currentTime: s.currentTime, at: now };
        result.endCurrentTime = s.currentTime;
        result.advanced = Number(played.toFixed(3));
        if (result.advanced >= opts.minAdvance && result.streamListed !== false) {
          result.ok = true;
          code = 0;
          break;
        }
      }
      if (Date.now() >= deadline) {
        if (result.advanced >= opts.minAdvance) {
          result.error = `${opts.expectStream} is not in the page's stream list`;
        } else {
          result.error = s.error
            || (s.ready ? `currentTime advanced only ${result.advanced} s` : 'playback never started');
        }
        break;
      }
      await page.waitForTimeout(250);
    }
    if (opts.screenshot) await page.screenshot({ path: opts.screenshot });
  } catch (e) {
    result.error = e.message;
  } finally {
    result.msTotal = Date.now() - started;
    await browser.close();
  }
  report(result, code);
}

main().catch((e) => report({ ok: false, error: `check.js: ${e.stack || e}` }, 2));
