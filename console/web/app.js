// The Sluice console: a hash-routed page over the JSON API (/api/).
import { chart, fmtBytes, fmtNum, fmtAge, esc, decode } from './ui.js';

const main = document.getElementById('main');
let timers = [];
let aborter = null;

function csrf() {
  const m = document.cookie.match(/(?:^|; )sluice_csrf=([^;]+)/);
  return m ? m[1] : '';
}

async function api(path, opts = {}) {
  const o = { ...opts, headers: { ...(opts.headers || {}) } };
  if (o.body !== undefined) {
    o.method = 'POST';
    o.headers['Content-Type'] = 'application/json';
    o.headers['X-Sluice-CSRF'] = csrf();
    o.body = JSON.stringify(o.body);
  }
  const r = await fetch(path, o);
  if (r.status === 401) { location.href = '/login.html'; throw new Error('login required'); }
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

function every(ms, fn) { fn(); timers.push(setInterval(fn, ms)); }

function route() {
  timers.forEach(clearInterval); timers = [];
  if (aborter) { aborter.abort(); aborter = null; }
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const page = parts[0] || 'overview';
  document.querySelectorAll('[data-nav]').forEach(a => a.classList.toggle('active', a.dataset.nav === page));
  const pages = { overview, topics: parts[1] ? () => topic(parts[1]) : topics, messages: () => messages(parts[1]),
    groups: parts[1] ? () => group(parts[1]) : groups, query };
  (pages[page] || overview)().catch(e => { main.innerHTML = `<p class="err">${esc(e.message)}</p>`; });
}
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', async () => { await fetch('/api/csrf'); await who(); route(); });

// who shows the logged-in user and a logout button.
async function who() {
  const s = await api('/api/session');
  if (!s.user) return;
  const el = document.getElementById('who');
  el.innerHTML = `<span>${esc(s.principal)}</span><button class="secondary" id="logout">Log out</button>`;
  document.getElementById('logout').addEventListener('click', async () => {
    await api('/api/logout', { body: {} });
    location.href = '/login.html';
  });
}

async function overview() {
  main.innerHTML = `<h1>Overview</h1><div class="cards" id="cards"></div><div id="alerts"></div>
  <h2>Brokers</h2><div id="brokers"></div>
  <h2>Live (last 10 minutes, sampled by the broker)</h2><div class="charts" id="charts"></div>`;
  const series = [['bytes_in_per_sec', 'Bytes in /s', fmtBytes], ['bytes_out_per_sec', 'Bytes out /s', fmtBytes],
    ['requests_per_sec', 'Requests /s', fmtNum], ['disk_bytes', 'Log bytes on disk', fmtBytes]];
  document.getElementById('charts').innerHTML = series.map(([n, t]) =>
    `<div class="chart" id="c-${n}"><div class="title"><span>${t}</span><span class="now"></span></div><div class="plot"></div></div>`).join('');
  every(3000, async () => {
    const o = await api('/api/overview');
    document.getElementById('cluster').textContent = `cluster ${o.cluster_id}`;
    const used = o.disk_total_bytes ? (100 - 100 * o.disk_free_bytes / o.disk_total_bytes).toFixed(0) + '% of disk used' : '';
    document.getElementById('cards').innerHTML = [
      ['Brokers', o.brokers.length], ['Topics', o.topics, 'internal ones included'], ['Partitions', o.partitions],
      ['Log size', fmtBytes(o.log_bytes), used], ['Offline partitions', o.offline_partitions.length],
      ['Under-replicated', o.under_replicated_partitions]]
      .map(([k, v, s]) => `<div class="card"><div class="k">${k}</div><div class="v">${v}</div>${s ? `<div class="muted">${s}</div>` : ''}</div>`).join('');
    document.getElementById('alerts').innerHTML = o.alerts.length ? o.alerts.map(a =>
      `<div class="alert ${a.severity}"><b>${a.severity}</b>${a.link ? `<a href="${esc(a.link)}">${esc(a.text)}</a>` : esc(a.text)}</div>`).join('')
      : '<div class="alert none">No alerts.</div>';
    document.getElementById('brokers').innerHTML = `<table><tr><th>ID</th><th>Endpoint</th><th>Rack</th><th>Version</th><th>State</th><th>Controller</th><th class="num">Leaders</th><th class="num">Log bytes</th><th>Uptime</th></tr>` +
      o.brokers.map(b => `<tr><td>${b.id}${b.self ? ' <span class="muted">(this one)</span>' : ''}</td><td>${esc(b.endpoint)}</td><td>${esc(b.rack || '—')}</td><td>${esc(b.version || '—')}</td>
      <td><span class="badge ${b.state === 'alive' ? 'OK' : 'stalled'}">${b.state}</span></td><td>${b.controller ? 'yes' : ''}</td>
      <td class="num">${b.leaders == null ? '—' : fmtNum(b.leaders)}</td><td class="num">${b.log_bytes == null ? '—' : fmtBytes(b.log_bytes)}</td>
      <td>${b.uptime_seconds == null ? '—' : fmtAge(b.uptime_seconds)}</td></tr>`).join('') + '</table>';
    for (const [n, , f] of series) {
      const s = await api(`/api/series?name=${n}&since=600`);
      const el = document.getElementById('c-' + n);
      if (!el) return;
      el.querySelector('.plot').outerHTML = chart(s.points, f);
      const last = s.points[s.points.length - 1];
      el.querySelector('.now').textContent = last ? f(last.v) : '';
    }
  });
}

async function topics() {
  main.innerHTML = `<h1>Topics</h1>
  <div class="row"><input id="q" placeholder="Search topics" autofocus> <label><input type="checkbox" id="internal"> internal</label></div>
  <div id="list"></div>
  <details class="panel"><summary>Create a topic</summary>
    <div class="row"><input id="newname" placeholder="name"> <input id="newparts" type="number" min="1" value="3" style="width:80px"> partitions
    <input id="newcfg" placeholder="configs: cleanup.policy=compact,retention.ms=…" size="40"> <button id="create">Create</button> <span id="createmsg"></span></div>
  </details>`;
  const load = async () => {
    const q = document.getElementById('q').value, internal = document.getElementById('internal').checked;
    const r = await api(`/api/topics?q=${encodeURIComponent(q)}&internal=${internal}`);
    document.getElementById('list').innerHTML = `<table><tr><th>Topic</th><th class="num">Partitions</th><th class="num">Records</th><th class="num">Size</th><th class="num">Bytes in</th><th class="num">Bytes out</th><th>Cleanup</th></tr>` +
      r.topics.map(t => `<tr><td><a href="#/topics/${encodeURIComponent(t.name)}">${esc(t.name)}</a></td><td class="num">${t.partitions}${t.unavailable_partitions ? ` <span class="badge stalled">${t.unavailable_partitions} unavailable</span>` : ''}</td>
      <td class="num" title="${esc(t.records_note || 'exact, from batch headers')}">${fmtNum(t.records)}${t.records_approximate ? ' ≈' : ''}${t.records_note ? ' *' : ''}</td>
      <td class="num">${fmtBytes(t.size_bytes)}</td><td class="num">${fmtBytes(t.bytes_in)}</td><td class="num">${fmtBytes(t.bytes_out)}</td><td>${esc(t.cleanup_policy)}</td></tr>`).join('') +
      (r.topics.length ? '' : '<tr><td colspan="7" class="muted">No topics.</td></tr>') + '</table>';
  };
  document.getElementById('q').oninput = load;
  document.getElementById('internal').onchange = load;
  document.getElementById('create').onclick = async () => {
    const configs = {};
    document.getElementById('newcfg').value.split(',').filter(s => s.includes('=')).forEach(s => { const [k, ...v] = s.split('='); configs[k.trim()] = v.join('=').trim(); });
    const msg = document.getElementById('createmsg');
    try {
      const r = await api('/api/topics', { body: { name: document.getElementById('newname').value, partitions: +document.getElementById('newparts').value, configs } });
      msg.textContent = `created ${r.name}`; msg.className = ''; load();
    } catch (e) { msg.textContent = e.message; msg.className = 'err'; }
  };
  await load();
}

async function topic(name) {
  const t = await api(`/api/topics/${encodeURIComponent(name)}`);
  const s = t.summary;
  main.innerHTML = `<h1>Topic ${esc(name)}</h1>
  <div class="cards">${[['Partitions', s.partitions + (s.unavailable_partitions ? ` <span class="badge stalled">${s.unavailable_partitions} unavailable</span>` : '')], ['Records', fmtNum(s.records) + (s.records_approximate ? ' ≈' : '')], ['Size', fmtBytes(s.size_bytes)],
    ['Bytes in', fmtBytes(s.bytes_in)], ['Bytes out', fmtBytes(s.bytes_out)]].map(([k, v]) => `<div class="card"><div class="k">${k}</div><div class="v">${v}</div></div>`).join('')}</div>
  ${s.records_note ? `<p class="note">Records: ${esc(s.records_note)}</p>` : '<p class="muted">Record counts are exact, summed from batch headers.</p>'}
  <div class="row"><a href="#/messages/${encodeURIComponent(name)}">Browse and search messages →</a></div>
  <h2>Partitions</h2>
  <table><tr><th>Partition</th><th>Leader</th><th>Replicas</th><th>ISR</th><th class="num">Log start</th><th class="num">Log end</th><th class="num">High watermark</th><th class="num" title="no transactions yet: the high watermark">LSO</th><th class="num">Records</th><th class="num">Segments</th><th class="num">Size</th></tr>
  ${t.partitions.map(p => p.unavailable
    ? `<tr><td>${p.partition}</td><td>${p.leader < 0 ? 'none' : p.leader}</td><td>${(p.replicas || []).join(', ')}</td><td>${(p.isr || []).join(', ')}</td>
  <td colspan="7"><span class="badge stalled">unavailable</span> <span class="muted">${esc((p.error || '').replace(/^console: partition unavailable: /, ''))}</span></td></tr>`
    : `<tr><td>${p.partition}</td><td style="white-space:nowrap">${p.leader}${p.remote ? '' : ' <span class="muted">(here)</span>'}</td><td>${(p.replicas || []).join(', ')}</td><td>${(p.isr || []).join(', ')}</td><td class="num">${fmtNum(p.log_start_offset)}</td><td class="num">${fmtNum(p.log_end_offset)}</td>
  <td class="num">${fmtNum(p.high_watermark)}</td><td class="num">${fmtNum(p.last_stable_offset)}</td><td class="num">${fmtNum(p.records)}${p.remote ? ' ≈' : ''}</td><td class="num">${p.segments < 0 ? '—' : p.segments}</td><td class="num">${p.size_bytes < 0 ? '—' : fmtBytes(p.size_bytes)}</td></tr>`).join('')}</table>
  <div class="panel"><div class="row"><b>Add partitions:</b> total <input id="pcount" type="number" min="${s.partitions + 1}" value="${s.partitions + 1}" style="width:80px"> <button id="addp">Add</button> <span id="addmsg"></span></div>
  <div class="row"><b>Delete topic:</b> type its name <input id="confirm" placeholder="${esc(name)}"> <button class="danger" id="del" disabled>Delete</button> <span id="delmsg"></span></div></div>
  <h2>Configs</h2>${t.configs_error ? `<p class="err">${esc(t.configs_error)}</p>` : ''}
  <div class="row">Set <input id="cfgname" list="cfgnames" placeholder="config name"> = <input id="cfgval" placeholder="value"> <button id="cfgset">Set</button> <span id="cfgmsg"></span>
  <datalist id="cfgnames">${t.configs.map(c => `<option>${esc(c.name)}</option>`).join('')}</datalist></div>
  <table><tr><th>Name</th><th>Value</th><th>Source</th><th></th></tr>${t.configs.map(c => `<tr><td>${esc(c.name)}</td><td>${c.sensitive ? '(sensitive)' : esc(c.value)}</td><td class="muted">${esc(c.source)}</td>
  <td>${c.source === 'DYNAMIC_TOPIC_CONFIG' ? `<button class="secondary" data-reset="${esc(c.name)}">reset to default</button>` : ''}</td></tr>`).join('')}</table>`;
  const alter = async body => {
    try { await api(`/api/topics/${encodeURIComponent(name)}/configs`, { body }); route(); }
    catch (e) { document.getElementById('cfgmsg').innerHTML = `<span class="err">${esc(e.message)}</span>`; }
  };
  document.getElementById('cfgset').onclick = () => alter({ set: { [document.getElementById('cfgname').value]: document.getElementById('cfgval').value } });
  document.querySelectorAll('[data-reset]').forEach(b => { b.onclick = () => alter({ delete: [b.dataset.reset] }); });
  const confirm = document.getElementById('confirm'), del = document.getElementById('del');
  confirm.oninput = () => { del.disabled = confirm.value !== name; };
  del.onclick = async () => {
    try { await api(`/api/topics/${encodeURIComponent(name)}/delete`, { body: { confirm: confirm.value } }); location.hash = '#/topics'; }
    catch (e) { document.getElementById('delmsg').innerHTML = `<span class="err">${esc(e.message)}</span>`; }
  };
  document.getElementById('addp').onclick = async () => {
    try { await api(`/api/topics/${encodeURIComponent(name)}/partitions`, { body: { count: +document.getElementById('pcount').value } }); route(); }
    catch (e) { document.getElementById('addmsg').innerHTML = `<span class="err">${esc(e.message)}</span>`; }
  };
}

// mark escapes s and highlights the search text in it.
function mark(s, hl) {
  const e = esc(s);
  return hl ? e.split(esc(hl)).join(`<mark>${esc(hl)}</mark>`) : e;
}

function recordRows(recs, mode, hl) {
  if (!recs.length) return '<tr><td colspan="5" class="muted">No records.</td></tr>';
  return recs.map(r => `<tr><td>${r.partition}</td><td class="num">${r.offset}</td><td>${new Date(r.timestamp).toISOString().replace('T', ' ').replace('Z', '')}</td>
  <td><pre class="val">${mark(decode(r.key, r.key_b64, mode), hl)}</pre></td><td><pre class="val">${mark(decode(r.value, r.value_b64, mode), hl)}${r.truncated ? ` … (${fmtBytes(r.value_size)})` : ''}</pre>
  ${(r.headers || []).map(h => `<span class="muted">${esc(h.key)}=${esc(decode(h.value, h.value_b64, mode))}</span>`).join(' ')}</td></tr>`).join('');
}
const recHead = '<tr><th>P</th><th class="num">Offset</th><th>Timestamp (UTC)</th><th>Key</th><th>Value</th></tr>';

async function messages(name) {
  const list = await api('/api/topics');
  if (!name && list.topics.length) name = list.topics[0].name;
  main.innerHTML = `<h1>Messages</h1>
  <div class="row">Topic <select id="topic">${list.topics.map(t => `<option ${t.name === name ? 'selected' : ''}>${esc(t.name)}</option>`).join('')}</select>
  Decode <select id="mode"><option value="text">text</option><option value="json">JSON</option><option value="hex">hex</option><option value="base64">base64</option></select></div>
  <div class="panel"><b>Search</b> (inside the broker, over its segments)
   <div class="row"><input id="sq" placeholder="substring" size="24"> in <select id="sin"><option>value</option><option>key</option><option>header</option><option>any</option><option value="json">JSON field</option></select>
   <input id="spath" placeholder="$.status" size="10" style="display:none">
   from (UTC) <input id="sfrom" type="datetime-local"> to <input id="sto" type="datetime-local"> limit <input id="slimit" type="number" value="100" style="width:80px">
   <button id="sgo">Search</button> <button class="secondary" id="scancel" disabled>Cancel</button></div>
   <div class="row"><div class="progress"><div id="sbar"></div></div> <span id="sstatus" class="muted"></span>
   <a id="xjsonl" href="#" download>export JSON lines</a> <a id="xcsv" href="#" download>export CSV</a></div></div>
  <div class="panel"><b>Browse</b> <div class="row">partition <input id="bp" type="number" value="0" min="0" style="width:70px">
   from offset <input id="boff" type="number" min="0" style="width:110px"> or time (UTC) <input id="btime" type="datetime-local"> <button id="bgo" class="secondary">Show</button> <span class="muted">(empty: newest first)</span></div></div>
  <details class="panel"><summary>Produce a record</summary><div class="row">partition <input id="pp" type="number" value="0" min="0" style="width:70px"> key <input id="pk">
   value <input id="pv" size="40"> header <input id="phk" placeholder="name" size="10">=<input id="phv" size="12"> <button id="pgo">Produce</button> <span id="pmsg"></span></div></details>
  <table id="recs">${recHead}</table>`;
  const $ = id => document.getElementById(id);
  let last = [];
  let hl = '';
  const show = recs => { last = recs; $('recs').innerHTML = recHead + recordRows(recs, $('mode').value, hl); };
  $('mode').onchange = () => show(last);
  $('topic').onchange = () => { location.hash = '#/messages/' + encodeURIComponent($('topic').value); };
  const ms = el => el.value ? new Date(el.value + 'Z').getTime() : '';
  const browse = async () => {
    const t = encodeURIComponent($('topic').value);
    let q = `partition=${$('bp').value || 0}&limit=50`;
    if ($('boff').value !== '') q += `&offset=${$('boff').value}`; else if ($('btime').value) q += `&time=${ms($('btime'))}`;
    hl = '';
    try { show((await api(`/api/topics/${t}/records?${q}`)).records); } catch (e) { $('recs').innerHTML = `<tr><td class="err">${esc(e.message)}</td></tr>`; }
  };
  $('bgo').onclick = browse;
  const searchURL = fmt => `/api/topics/${encodeURIComponent($('topic').value)}/search?q=${encodeURIComponent($('sq').value)}&in=${$('sin').value}` +
    `&limit=${$('slimit').value}&from=${ms($('sfrom'))}&to=${ms($('sto'))}&format=${fmt}` +
    ($('sin').value === 'json' ? `&path=${encodeURIComponent($('spath').value)}` : '');
  const exports = () => { $('xjsonl').href = searchURL('jsonl'); $('xcsv').href = searchURL('csv'); };
  ['sq', 'sin', 'spath', 'slimit', 'sfrom', 'sto'].forEach(id => { $(id).oninput = exports; });
  $('sin').onchange = () => { $('spath').style.display = $('sin').value === 'json' ? '' : 'none'; exports(); };
  exports();
  $('sgo').onclick = async () => {
    if (!$('sq').value) { $('sstatus').textContent = 'type a substring'; return; }
    aborter = new AbortController();
    $('sgo').disabled = true; $('scancel').disabled = false;
    hl = $('sq').value;
    const found = []; show(found);
    try {
      const r = await fetch(searchURL('ndjson'), { signal: aborter.signal });
      if (!r.ok) throw new Error((await r.json()).error);
      const rd = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await rd.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const m = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
          const p = m.progress || (m.done && m.done.progress);
          if (m.record) { found.push(m.record); if (found.length <= 200) show(found); }
          if (p) {
            $('sbar').style.width = (p.total_bytes ? 100 * p.scanned_bytes / p.total_bytes : 100) + '%';
            $('sstatus').textContent = `${fmtNum(p.matches)} match(es), ${fmtBytes(p.scanned_bytes)} of ${fmtBytes(p.total_bytes)} scanned in ${p.elapsed_ms} ms` +
              (m.done ? ` — stopped: ${m.done.stopped}${m.done.error ? ', ' + m.done.error : ''}` : '');
          }
        }
      }
    } catch (e) {
      $('sstatus').textContent = e.name === 'AbortError' ? `cancelled after ${found.length} match(es)` : e.message;
    }
    show(found);
    $('sgo').disabled = false; $('scancel').disabled = true; aborter = null;
  };
  $('scancel').onclick = () => aborter && aborter.abort();
  $('pgo').onclick = async () => {
    const body = { partition: +$('pp').value, key: $('pk').value || null, value: $('pv').value, headers: $('phk').value ? [{ key: $('phk').value, value: $('phv').value }] : [] };
    try { const r = await api(`/api/topics/${encodeURIComponent($('topic').value)}/records`, { body }); $('pmsg').textContent = `written at ${r.partition}/${r.offset}`; browse(); }
    catch (e) { $('pmsg').innerHTML = `<span class="err">${esc(e.message)}</span>`; }
  };
  if (name) await browse();
}

async function groups() {
  main.innerHTML = '<h1>Consumer groups</h1><div id="list"></div>';
  every(3000, async () => {
    const r = await api('/api/groups');
    document.getElementById('list').innerHTML = `<table><tr><th>Group</th><th>State</th><th class="num">Members</th><th class="num">Lag (records)</th><th>Verdict</th></tr>` +
      r.groups.map(g => `<tr><td><a href="#/groups/${encodeURIComponent(g.group)}">${esc(g.group)}</a></td><td>${esc(g.state)}</td><td class="num">${g.members}</td>
      <td class="num">${fmtNum(g.lag)}</td><td><span class="badge ${g.verdict}">${g.verdict}</span></td></tr>`).join('') +
      (r.groups.length ? '' : '<tr><td colspan="5" class="muted">No consumer groups.</td></tr>') + '</table>';
  });
}

async function group(name) {
  main.innerHTML = `<h1>Consumer group ${esc(name)}</h1><div id="head"></div>
  <div class="chart" id="lagchart"><div class="title"><span>Total lag (records), last hour</span><span class="now"></span></div><div class="plot"></div></div>
  <h2>Partitions</h2><div id="parts"></div><h2>Members</h2><div id="members"></div>
  <div class="panel"><b>Reset offsets</b> (the group must have no members)
   <div class="row">topic <input id="rt" size="16"> to <select id="rto"><option>earliest</option><option>latest</option><option>offset</option><option>timestamp</option></select>
   <input id="rv" type="number" placeholder="offset or ms" style="width:140px"> <button id="rplan" class="secondary">Plan</button> <button id="rapply" disabled>Apply</button></div><div id="rplanout"></div>
   <div class="row"><b>Delete group:</b> type its name <input id="gconfirm"> <button class="danger" id="gdel">Delete</button> <span id="gmsg"></span></div></div>`;
  const $ = id => document.getElementById(id);
  every(3000, async () => {
    const g = await api(`/api/groups/${encodeURIComponent(name)}`);
    if (!$('head')) return;
    $('head').innerHTML = `<div class="cards">${[['State', esc(g.state)], ['Members', g.members.length], ['Lag (records)', fmtNum(g.lag)],
      ['Verdict', `<span class="badge ${g.verdict}">${g.verdict}</span>`]].map(([k, v]) => `<div class="card"><div class="k">${k}</div><div class="v">${v}</div></div>`).join('')}</div>`;
    $('parts').innerHTML = `<table><tr><th>Topic</th><th>Partition</th><th class="num">Committed</th><th class="num">End</th><th class="num">Lag (records)</th><th class="num">Lag (time)</th><th>Member</th><th>Verdict</th></tr>` +
      g.partitions.map(p => `<tr><td>${esc(p.topic)}</td><td>${p.partition}</td><td class="num">${fmtNum(p.committed_offset)}</td><td class="num">${fmtNum(p.end_offset)}</td>
      <td class="num">${fmtNum(p.lag)}</td><td class="num">${p.lag ? fmtAge(p.lag_seconds) : '—'}</td><td class="muted">${esc(p.member || '')}</td><td><span class="badge ${p.verdict}">${p.verdict}</span></td></tr>`).join('') + '</table>';
    $('members').innerHTML = g.members.length ? `<table><tr><th>Member</th><th>Client</th><th>Host</th><th>Assignments</th></tr>` +
      g.members.map(m => `<tr><td>${esc(m.member_id)}</td><td>${esc(m.client_id)}</td><td>${esc(m.host)}</td><td>${esc(Object.entries(m.assignments).map(([t, ps]) => `${t}: ${ps.join(',')}`).join('; '))}</td></tr>`).join('') + '</table>'
      : '<p class="muted">No active members.</p>';
    if (!$('rt').value && g.partitions.length) $('rt').value = g.partitions[0].topic;
    const s = await api(`/api/series?name=${encodeURIComponent('group_lag:' + name)}&since=3600`);
    $('lagchart').querySelector('.plot').outerHTML = chart(s.points, fmtNum);
    const lastp = s.points[s.points.length - 1];
    $('lagchart').querySelector('.now').textContent = lastp ? fmtNum(lastp.v) : '';
  });
  const reset = async apply => {
    try {
      const r = await api(`/api/groups/${encodeURIComponent(name)}/reset`, { body: { topic: $('rt').value, to: $('rto').value, value: +$('rv').value || 0, apply } });
      $('rplanout').innerHTML = `<p>${r.applied ? 'Applied:' : 'Plan:'}</p><table><tr><th>Topic</th><th>Partition</th><th class="num">Current</th><th class="num">New</th></tr>` +
        r.plan.map(p => `<tr><td>${esc(p.topic)}</td><td>${p.partition}</td><td class="num">${p.current_offset}</td><td class="num">${p.target_offset}</td></tr>`).join('') + '</table>';
      $('rapply').disabled = r.applied;
    } catch (e) { $('rplanout').innerHTML = `<p class="err">${esc(e.message)}</p>`; }
  };
  $('rplan').onclick = () => reset(false);
  $('rapply').onclick = () => reset(true);
  $('gdel').onclick = async () => {
    try { await api(`/api/groups/${encodeURIComponent(name)}/delete`, { body: { confirm: $('gconfirm').value } }); location.hash = '#/groups'; }
    catch (e) { $('gmsg').innerHTML = `<span class="err">${esc(e.message)}</span>`; }
  };
}

async function query() {
  const list = await api('/api/topics');
  const t = list.topics.length ? list.topics[0].name : 'orders';
  const sample = `SELECT partition, offset, timestamp, key, value FROM "${t}"\nWHERE value LIKE '%error%' AND timestamp > now() - interval '1 hour'\nLIMIT 100`;
  main.innerHTML = `<h1>Query</h1>
  <p class="muted">A SQL SELECT over one topic's records, evaluated inside the broker. Columns: partition, offset, timestamp (ms), key, value, headers, size;
  <code>json_extract(value, '$.a.b')</code> reads JSON. WHERE: AND, OR, NOT, =, !=, &lt;, &gt;, LIKE, IN, BETWEEN, IS NULL, <code>now() - interval '1 hour'</code>. LIMIT at most 5000; 10 s budget.</p>
  <textarea id="sql" rows="4" style="width:100%;font:13px ui-monospace,monospace">${esc(sessionStorage.getItem('sql') || sample)}</textarea>
  <div class="row"><button id="run">Run</button> <span id="qstatus" class="muted"></span></div><div id="qout"></div>`;
  const $ = id => document.getElementById(id);
  $('run').onclick = async () => {
    sessionStorage.setItem('sql', $('sql').value);
    $('qstatus').textContent = 'running…'; $('qout').innerHTML = '';
    try {
      const r = await api('/api/query?sql=' + encodeURIComponent($('sql').value));
      $('qstatus').textContent = `${r.rows.length} row(s); ${fmtNum(r.scanned_records)} records (${fmtBytes(r.scanned_bytes)}) scanned in ${r.elapsed_ms} ms; stopped: ${r.stopped}`;
      $('qout').innerHTML = `<table><tr>${r.columns.map(c => `<th>${esc(c)}</th>`).join('')}</tr>` +
        r.rows.map(row => `<tr>${row.map((v, i) => `<td>${r.columns[i] === 'timestamp' ? new Date(v).toISOString() : `<pre class="val">${esc(v === null ? 'null' : typeof v === 'string' ? v : JSON.stringify(v))}</pre>`}</td>`).join('')}</tr>`).join('') + '</table>';
    } catch (e) { $('qstatus').innerHTML = `<span class="err">${esc(e.message)}</span>`; }
  };
}
