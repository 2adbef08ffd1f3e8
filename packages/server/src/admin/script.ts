/**
 * The admin page's script (plain browser JavaScript, no framework, no bundler; served as `<path>/admin.js`). Every
 * value from the server is written with `textContent`, never as HTML.
 */
export const ADMIN_SCRIPT = `(function () {
  'use strict';
  var BASE = document.body.dataset.base;
  var API = BASE + '/api/';
  var KEY = 'unisocket.admin.token';
  var $ = function (id) { return document.getElementById(id); };
  var token = sessionStorage.getItem(KEY);
  var connPage = { offset: 0, limit: 50, total: 0, filter: {} };
  var hist = { channel: null, from: null, epoch: null, prev: null, next: null };
  var samples = [];
  var timer = null;
  var CHARTS = [
    ['connections', 'connections', function (s) { return s.connections; }],
    ['deliveries', 'deliveries / s', function (s) { return s.rates.deliveries; }],
    ['published', 'published / s', function (s) { return s.rates.published; }],
    ['heap', 'heap used (MB)', function (s) { return Math.round(s.memory.heapUsed / 1048576); }],
  ];

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function showError(message) { $('error').textContent = message || ''; }

  function call(method, path, body) {
    var init = { method: method, headers: { Authorization: 'Bearer ' + token }, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (json) {
        if (res.status === 401) { signOut('refused: ' + (json.message || 'wrong admin token')); throw new Error('unauthorized'); }
        if (!res.ok) throw new Error(json.message || ('HTTP ' + res.status));
        return json;
      });
    });
  }

  function signOut(message) {
    token = null;
    sessionStorage.removeItem(KEY);
    if (timer !== null) { clearInterval(timer); timer = null; }
    $('app').hidden = true;
    $('signout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
  }

  function signIn() {
    call('GET', 'node').then(function (node) {
      sessionStorage.setItem(KEY, token);
      $('login').hidden = true;
      $('login-error').textContent = '';
      $('app').hidden = false;
      $('signout').hidden = false;
      renderNode(node);
      show('overview');
      if (timer === null) timer = setInterval(tick, 1000);
      tick();
    }).catch(function (e) {
      if (e.message !== 'unauthorized') signOut('cannot reach the admin API: ' + e.message);
    });
  }

  function renderNode(node) {
    $('node').textContent = 'node ' + node.nodeId;
    var dl = $('overview-node');
    dl.replaceChildren();
    var rows = [
      ['node id', node.nodeId], ['health', node.health.status + (node.health.warnings.length ? ' (' + node.health.warnings.join('; ') + ')' : '')],
      ['broker', node.broker.kind + ' · ' + node.broker.state + (node.broker.clusterSubscriberCounts ? ' · cluster counts' : ' · this node only')],
      ['transports', node.transports.join(', ')], ['connections', node.connections], ['users', node.users], ['channels', node.channels],
      ['up since', new Date(node.startTime).toISOString()],
    ];
    rows.forEach(function (r) { dl.append(el('dt', r[0]), el('dd', r[1])); });
  }

  function tick() {
    call('GET', 'sample').then(function (r) {
      samples.push(r.sample);
      if (samples.length > 180) samples.shift();
      drawCharts();
    }).catch(function () {});
    if (!$('view-overview').hidden) {
      call('GET', 'node').then(renderNode).catch(function () {});
      call('GET', 'operations').then(function (r) {
        $('operations').textContent = JSON.stringify({ queues: r.queues, breakers: r.breakers }, null, 2);
      }).catch(function () {});
    }
  }

  function drawCharts() {
    var box = $('charts');
    CHARTS.forEach(function (c) {
      var card = document.getElementById('chart-' + c[0]);
      if (!card) {
        card = el('div', null, 'chart');
        card.id = 'chart-' + c[0];
        card.append(el('div', c[1], 'muted'), el('div', '', 'value'));
        var svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
        svg.setAttribute('viewBox', '0 0 180 70');
        svg.setAttribute('preserveAspectRatio', 'none');
        svg.append(document.createElementNS('http://www.w3.org/2000/svg', 'polyline'));
        card.append(svg);
        box.append(card);
      }
      var values = samples.map(c[2]);
      var max = Math.max.apply(null, values.concat([1]));
      var points = values.map(function (v, i) { return (i + 180 - values.length) + ',' + (68 - (v / max) * 64).toFixed(1); });
      card.querySelector('polyline').setAttribute('points', points.join(' '));
      card.querySelector('.value').textContent = values.length ? String(Math.round(values[values.length - 1] * 10) / 10) : '';
    });
  }

  function show(view) {
    document.querySelectorAll('nav button').forEach(function (b) { b.classList.toggle('active', b.dataset.view === view); });
    document.querySelectorAll('.view').forEach(function (v) { v.hidden = v.id !== 'view-' + view; });
    showError('');
    if (view === 'connections') loadConnections();
    if (view === 'channels') loadChannels();
  }

  function query(params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) { if (params[k] !== '' && params[k] !== null && params[k] !== undefined) q.set(k, params[k]); });
    return q.toString();
  }

  function loadConnections() {
    var p = Object.assign({}, connPage.filter, { offset: connPage.offset, limit: connPage.limit });
    call('GET', 'connections?' + query(p)).then(function (r) {
      connPage.total = r.total;
      var body = $('conn-table').tBodies[0];
      body.replaceChildren();
      r.connections.forEach(function (c) {
        var tr = el('tr');
        tr.dataset.id = c.id;
        [c.id, c.userId || '—', c.transport, c.ip, c.channels.join(', '), new Date(c.connectedAt).toLocaleTimeString(), c.messagesOut, c.bytesOut]
          .forEach(function (v) { tr.append(el('td', v)); });
        var td = el('td');
        var kick = el('button', 'Disconnect');
        kick.type = 'button';
        kick.className = 'kick';
        kick.addEventListener('click', function () { disconnect({ connectionId: c.id }); });
        td.append(kick);
        if (c.userId) {
          var all = el('button', 'Disconnect user');
          all.type = 'button';
          all.addEventListener('click', function () { disconnect({ userId: c.userId }); });
          td.append(all);
        }
        tr.append(td);
        body.append(tr);
      });
      $('conn-page').textContent = r.total === 0 ? 'no connections' :
        (r.offset + 1) + '–' + (r.offset + r.connections.length) + ' of ' + r.total + ' on node ' + r.nodeId;
    }).catch(function (e) { showError(e.message); });
  }

  function disconnect(target) {
    var what = target.connectionId ? 'connection ' + target.connectionId : 'every connection of user ' + target.userId + ' (all nodes)';
    if (!confirm('Disconnect ' + what + '?')) return;
    call('POST', 'disconnect', target).then(function (r) {
      showError('');
      $('conn-page').textContent = 'disconnected ' + r.disconnected + ' on node ' + r.nodeId;
      setTimeout(loadConnections, 300);
    }).catch(function (e) { showError(e.message); });
  }

  function loadChannels() {
    call('GET', 'channels?limit=1000').then(function (r) {
      $('channels-scope').textContent = r.clusterWide ? 'counts: this node and cluster-wide' : 'counts: this node (the broker reaches no other)';
      var body = $('chan-table').tBodies[0];
      body.replaceChildren();
      r.channels.forEach(function (c) {
        var tr = el('tr', null, 'clickable');
        tr.dataset.channel = c.name;
        tr.append(el('td', c.name), el('td', c.local), el('td', c.cluster));
        tr.addEventListener('click', function () { openChannel(c.name); });
        body.append(tr);
      });
    }).catch(function (e) { showError(e.message); });
  }

  function openChannel(name) {
    hist = { channel: name, from: null, epoch: null, prev: null, next: null };
    $('channel-detail').hidden = false;
    $('cd-title').textContent = name;
    call('GET', 'channels/' + encodeURIComponent(name)).then(function (r) {
      $('cd-counts').textContent = r.local + ' subscriber(s) on this node (' + r.nodeId + '), ' + r.cluster + (r.clusterWide ? ' cluster-wide' : ' (this node only)');
      var box = $('cd-presence');
      box.replaceChildren();
      if (r.presence) {
        box.append(el('h3', 'Presence members (' + r.presence.length + ', cluster-wide on Redis)'));
        var ul = el('ul');
        r.presence.forEach(function (m) { ul.append(el('li', m.userId + (m.info === undefined ? '' : ' ' + JSON.stringify(m.info)))); });
        box.append(ul);
      }
    }).catch(function (e) { showError(e.message); });
    loadHistory();
  }

  function loadHistory() {
    var p = { limit: 10, from: hist.from, epoch: hist.epoch };
    call('GET', 'channels/' + encodeURIComponent(hist.channel) + '/history?' + query(p)).then(function (r) {
      hist.from = r.from; hist.epoch = r.epoch; hist.prev = r.prev; hist.next = r.next;
      $('hist-info').textContent = 'epoch ' + r.epoch + ' · offsets ' + (r.messages.length ? r.messages[0].offset + '–' + r.messages[r.messages.length - 1].offset : 'none') +
        ' of ' + r.position.offset + (r.epochChanged ? ' · the epoch changed: press Newest' : '') + (r.complete ? '' : ' · older messages are gone');
      var body = $('hist-table').tBodies[0];
      body.replaceChildren();
      r.messages.forEach(function (m) {
        var tr = el('tr');
        tr.append(el('td', m.offset), el('td', new Date(m.ts).toLocaleTimeString()), el('td', m.event), el('td', JSON.stringify(m.data), 'data'));
        body.append(tr);
      });
      $('hist-prev').disabled = r.prev === null;
      $('hist-next').disabled = r.next === null;
    }).catch(function (e) { showError(e.message); });
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('login-form').addEventListener('submit', function (e) {
      e.preventDefault();
      token = $('token').value.trim();
      $('token').value = '';
      if (token) signIn();
    });
    $('signout').addEventListener('click', function () { signOut(''); });
    document.querySelectorAll('nav button').forEach(function (b) { b.addEventListener('click', function () { show(b.dataset.view); }); });
    $('conn-filter').addEventListener('submit', function (e) {
      e.preventDefault();
      var f = new FormData(e.target);
      connPage.filter = { user: f.get('user'), channel: f.get('channel'), transport: f.get('transport'), ip: f.get('ip') };
      connPage.offset = 0;
      loadConnections();
    });
    $('conn-prev').addEventListener('click', function () { connPage.offset = Math.max(0, connPage.offset - connPage.limit); loadConnections(); });
    $('conn-next').addEventListener('click', function () { if (connPage.offset + connPage.limit < connPage.total) { connPage.offset += connPage.limit; loadConnections(); } });
    $('hist-prev').addEventListener('click', function () { if (hist.prev !== null) { hist.from = hist.prev; loadHistory(); } });
    $('hist-next').addEventListener('click', function () { if (hist.next !== null) { hist.from = hist.next; loadHistory(); } });
    $('hist-latest').addEventListener('click', function () { hist.from = null; hist.epoch = null; loadHistory(); });
    $('publish-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var f = new FormData(e.target);
      var data;
      try { data = JSON.parse(String(f.get('data') || 'null')); } catch (err) { showError('data is not JSON: ' + err.message); return; }
      call('POST', 'publish', { channel: f.get('channel'), event: f.get('event'), data: data }).then(function (r) {
        showError('');
        $('publish-result').textContent = 'published ' + r.id + ' at offset ' + r.offset + ' (epoch ' + r.epoch + ') from node ' + r.nodeId;
      }).catch(function (e) { $('publish-result').textContent = ''; showError(e.message); });
    });
    if (token) signIn();
  });
})();
`;
