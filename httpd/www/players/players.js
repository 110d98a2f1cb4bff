// The player page: the stream list from the HTTP API and one player for HTTP-FLV
// (mpegts.js) or HLS (hls.js, or the browser's own HLS when hls.js cannot run).
//
// Page parameters:
//   ?api=http://host:1985    where the HTTP API is (default: this page's host, port 1985)
//   ?server=http://host:8080 where the streams are (default: this page's origin)
//   ?url=http://host:8080/live/livestream.flv (or .m3u8): play it at once, muted
//   ?url=http://host:8080/live/recording.mp4: a DVR recording, played by the browser itself
//   ?kind=flv|hls|file       protocol of ?url= when its path does not say
//
// Tests read window.playerState: { ready, error, currentTime, engine, kind, url }.
'use strict';

(function () {
  const params = new URLSearchParams(location.search);
  const video = document.getElementById('video');
  const $ = (id) => document.getElementById(id);

  const state = {
    ready: false, // playback started (the video fired 'playing')
    error: null, // last error, a string (the player keeps retrying a live stream)
    currentTime: 0, // video.currentTime, seconds
    engine: null, // 'mpegts.js' | 'hls.js' | 'native'
    kind: null, // 'flv' | 'hls' | 'file'
    url: null,
  };
  window.playerState = state;

  const apiBase = trimSlash(params.get('api') || `${location.protocol}//${location.hostname}:1985`);
  const serverBase = trimSlash(params.get('server') || location.origin);
  // A live stream that is not there yet (not published, no playlist yet) is retried.
  const RETRY_MS = 2000;

  let current = null; // { destroy() } of the running player
  let generation = 0; // bumps on every play/stop: stale retries and events are ignored

  function trimSlash(s) {
    return s.replace(/\/+$/, '');
  }

  function setStatus(text, isError) {
    const el = $('state');
    el.textContent = text;
    el.classList.toggle('error', !!isError);
  }

  function fail(gen, what) {
    if (gen !== generation) return;
    state.error = String(what);
    setStatus(`error: ${state.error} (retrying)`, true);
  }

  function kindOf(url, fallback) {
    let path = url;
    try {
      path = new URL(url, location.href).pathname;
    } catch (e) {
      /* keep the raw text */
    }
    if (/\.m3u8$/i.test(path)) return 'hls';
    if (/\.flv$/i.test(path)) return 'flv';
    if (/\.mp4$/i.test(path)) return 'file';
    return fallback;
  }

  /// The URL of a stream from the API for one protocol. HTTP-FLV mounts name a vhost other
  /// than the default in the path ([vhost]/[app]/[stream].flv); HLS files do not.
  function streamUrl(s, kind) {
    const appStream = `${s.app}/${s.name}`.split('/').map(encodeURIComponent).join('/');
    if (kind === 'hls') return `${serverBase}/${appStream}.m3u8`;
    const vhost = s.vhost && s.vhost !== '__defaultVhost__' ? `${encodeURIComponent(s.vhost)}/` : '';
    return `${serverBase}/${vhost}${appStream}.flv`;
  }

  function stop() {
    generation += 1;
    if (current) {
      try {
        current.destroy();
      } catch (e) {
        /* already gone */
      }
      current = null;
    }
    video.removeAttribute('src');
    video.load();
    state.ready = false;
    state.currentTime = 0;
    setStatus('idle');
  }

  function play(url, kind) {
    stop();
    const gen = generation;
    Object.assign(state, { ready: false, error: null, currentTime: 0, url, kind, engine: null });
    $('url').value = url;
    $('kind').value = kind;
    const share = $('share');
    const q = new URLSearchParams(params);
    q.set('url', url);
    q.delete('kind');
    if (kindOf(url, null) !== kind) q.set('kind', kind);
    share.href = `${location.pathname}?${q}`;
    share.hidden = false;
    setStatus(`loading ${kind.toUpperCase()} ${url}`);
    video.muted = true; // muted autoplay is allowed without a click; unmute in the controls
    try {
      if (kind === 'hls') current = startHls(url, gen);
      else if (kind === 'file') current = startFile(url);
      else current = startFlv(url, gen);
    } catch (e) {
      fail(gen, e && e.message ? e.message : e);
      return;
    }
    const p = video.play();
    if (p && p.catch) p.catch((e) => {
      // The media is not there yet; 'canplay' tries again.
      if (gen === generation && e.name !== 'AbortError') state.error = `play(): ${e.message}`;
    });
  }

  function retry(gen) {
    setTimeout(() => {
      if (gen === generation) play(state.url, state.kind);
    }, RETRY_MS);
  }

  function startFlv(url, gen) {
    if (typeof mpegts === 'undefined') throw new Error('mpegts.js did not load');
    if (!mpegts.getFeatureList().mseLivePlayback) {
      throw new Error('this browser has no MediaSource live playback: HTTP-FLV needs it');
    }
    state.engine = 'mpegts.js';
    const player = mpegts.createPlayer(
      { type: 'flv', isLive: true, url },
      {
        enableWorker: false,
        lazyLoad: false,
        // Stay near the live edge: skip ahead when the buffer grows past 3 s.
        liveBufferLatencyChasing: true,
        liveBufferLatencyMaxLatency: 3.0,
        liveBufferLatencyMinRemain: 0.5,
      },
    );
    player.on(mpegts.Events.ERROR, (type, detail, info) => {
      fail(gen, `${type}: ${detail}${info && info.msg ? ` (${info.msg})` : ''}`);
      retry(gen);
    });
    player.on(mpegts.Events.LOADING_COMPLETE, () => {
      // The server closed the stream (stopped, or the connection dropped): reconnect.
      if (gen === generation) retry(gen);
    });
    player.attachMediaElement(video);
    player.load();
    return {
      destroy() {
        player.pause();
        player.unload();
        player.detachMediaElement();
        player.destroy();
      },
    };
  }

  /// A recorded file (DVR's MP4): the browser plays and seeks it on its own.
  function startFile(url) {
    state.engine = 'native';
    video.src = url;
    return { destroy() {} };
  }

  function startHls(url, gen) {
    if (typeof Hls !== 'undefined' && Hls.isSupported()) {
      state.engine = 'hls.js';
      const hls = new Hls({ liveDurationInfinity: true });
      hls.on(Hls.Events.ERROR, (ev, data) => {
        if (!data.fatal) return;
        fail(gen, `${data.type}: ${data.details}`);
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
        } else {
          retry(gen);
        }
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      return { destroy: () => hls.destroy() };
    }
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      state.engine = 'native';
      video.src = url;
      return { destroy() {} };
    }
    throw new Error('this browser has neither MediaSource (hls.js) nor native HLS');
  }

  video.addEventListener('playing', () => {
    state.ready = true;
    state.error = null;
  });
  video.addEventListener('canplay', () => {
    if (video.paused && current) video.play().catch(() => {});
  });
  video.addEventListener('error', () => {
    // mpegts.js and hls.js report media errors through their own events (above); this is
    // for native HLS and files, where the element is the player.
    const gen = generation;
    const e = video.error;
    if (!e || !current || state.engine !== 'native') return;
    fail(gen, `video: ${e.message || `media error ${e.code}`}`);
    retry(gen);
  });
  video.addEventListener('timeupdate', () => {
    state.currentTime = video.currentTime;
  });
  setInterval(() => {
    state.currentTime = video.currentTime;
    if (!current || state.error) return;
    const b = video.buffered;
    const ahead = b.length ? b.end(b.length - 1) - video.currentTime : 0;
    const what = state.ready ? 'playing' : 'loading';
    setStatus(`${what} ${state.kind.toUpperCase()} with ${state.engine}: ` +
      `t=${video.currentTime.toFixed(1)} s, buffer ${ahead.toFixed(1)} s`);
  }, 500);

  // The stream list.
  function cell(tr, text) {
    const td = document.createElement('td');
    td.textContent = text; // publishers name streams: never parse them as HTML
    tr.appendChild(td);
    return td;
  }

  function renderStreams(streams) {
    const body = $('streams').tBodies[0];
    body.replaceChildren();
    if (!streams.length) {
      const tr = body.insertRow();
      const td = cell(tr, 'no stream is published');
      td.colSpan = 7;
      td.className = 'empty';
      return;
    }
    for (const s of streams) {
      const tr = body.insertRow();
      cell(tr, `${s.app}/${s.name}`);
      cell(tr, s.vhost || '');
      const v = s.video;
      cell(tr, v ? `${v.codec}${v.width && v.height ? ` ${v.width}×${v.height}` : ''}` : '—');
      const a = s.audio;
      cell(tr, a ? `${a.codec}${a.sample_rate ? ` ${a.sample_rate} Hz` : ''}` : '—');
      cell(tr, String(s.clients ?? ''));
      cell(tr, String(s.kbps && s.kbps.recv_30s != null ? s.kbps.recv_30s : ''));
      const td = cell(tr, '');
      for (const kind of ['flv', 'hls']) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = kind === 'flv' ? 'HTTP-FLV' : 'HLS';
        b.title = streamUrl(s, kind);
        b.addEventListener('click', () => play(streamUrl(s, kind), kind));
        td.appendChild(b);
      }
    }
  }

  async function refresh() {
    const status = $('api-status');
    try {
      const r = await fetch(`${apiBase}/api/v1/streams`, { cache: 'no-store' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const j = await r.json();
      if (j.code !== 0) throw new Error(`code ${j.code}`);
      renderStreams(j.streams || []);
      status.textContent = `updated ${new Date().toLocaleTimeString()}`;
      status.classList.remove('error');
    } catch (e) {
      status.textContent = `cannot read ${apiBase}/api/v1/streams: ${e.message}`;
      status.classList.add('error');
    }
  }

  $('api').value = apiBase;
  $('api-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams(location.search);
    q.set('api', $('api').value);
    location.search = q.toString();
  });
  $('url-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const url = $('url').value.trim();
    if (url) play(url, kindOf(url, $('kind').value));
  });
  $('stop').addEventListener('click', () => {
    stop();
    $('share').hidden = true;
  });

  refresh();
  setInterval(refresh, 5000);

  const direct = params.get('url');
  const asked = params.get('kind');
  if (direct) play(direct, kindOf(direct, asked === 'hls' || asked === 'file' ? asked : 'flv'));
})();
