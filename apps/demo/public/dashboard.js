// The live dashboard: a plain browser WebSocket speaking unisocket protocol v1 (no client library, no chart
// library). It subscribes to `sys.stats`, where the server publishes a stats sample every second, and draws the
// last few minutes as SVG line charts; and to the operational channels (retries, circuit breakers, scheduler runs,
// webhook deliveries, dead-letter entries), listed as they come.
(() => {
  var CHANNEL = 'sys.stats';
  var OPS_CHANNELS = ['sys.error-recovery', 'sys.scheduler', 'sys.webhook', 'sys.dlq'];
  var MAX_OPS = 50;
  var ops = [];
  var MAX_POINTS = 180; // three minutes at one sample per second
  var $ = (id) => document.getElementById(id);
  var samples = [];
  var socket = null;
  var retryMs = 500;
  var ref = 0;
  var epoch = null; // the stream position of the last sample, to resume after a reconnect
  var offset = 0;

  function setStatus(status) {
    $('status').textContent = status;
    $('status').dataset.status = status;
  }

  function connect() {
    setStatus(samples.length === 0 ? 'connecting' : 'reconnecting');
    var url = `${(location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host}/ws`;
    socket = new WebSocket(url);
    socket.onopen = () => {
      retryMs = 500;
      var cmd = { type: 'subscribe', channel: CHANNEL, ref: ++ref };
      if (epoch !== null) cmd.since = { epoch: epoch, offset: offset };
      socket.send(JSON.stringify(cmd));
      OPS_CHANNELS.forEach((channel) => {
        socket.send(JSON.stringify({ type: 'subscribe', channel: channel, ref: ++ref }));
      });
    };
    socket.onmessage = (event) => {
      // one frame may carry several JSON objects, one per line
      var lines = String(event.data).split('\n');
      for (let i = 0; i < lines.length; i++) {
        if (lines[i]) handle(JSON.parse(lines[i]));
      }
    };
    socket.onclose = () => {
      setStatus('reconnecting');
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }

  function handle(frame) {
    switch (frame.type) {
      case 'ping':
        socket.send('{"type":"pong"}');
        return;
      case 'ack':
        if (frame.channel !== CHANNEL) return;
        if (epoch === null || frame.recovered === false) offset = frame.offset;
        epoch = frame.epoch;
        setStatus('live');
        return;
      case 'welcome':
        $('node').textContent = `node ${frame.nodeId || ''} · connection ${frame.connectionId}`;
        return;
      case 'message':
        if (OPS_CHANNELS.indexOf(frame.channel) !== -1) {
          addOp(frame);
          return;
        }
        if (frame.channel !== CHANNEL || frame.event !== 'stats') return;
        offset = frame.offset;
        add(frame.data);
        return;
      case 'resync':
        if (frame.channel === CHANNEL) {
          epoch = frame.epoch;
          offset = frame.offset;
        }
        return;
      case 'error':
        if (OPS_CHANNELS.indexOf(frame.channel) !== -1) {
          $('ops-note').textContent = `operational events: ${frame.message}`;
          return;
        }
        $('footer').textContent = `error: ${frame.code} ${frame.message}`;
        return;
    }
  }

  /** One operational event: newest first, at most MAX_OPS kept. */
  function addOp(frame) {
    ops.unshift(frame);
    if (ops.length > MAX_OPS) ops.pop();
    var list = $('ops');
    var item = document.createElement('li');
    item.dataset.channel = frame.channel;
    var time = document.createElement('span');
    time.className = 'muted';
    time.textContent = new Date(frame.ts || Date.now()).toLocaleTimeString();
    var name = document.createElement('strong');
    name.textContent = ` ${frame.channel.slice(4)} · ${frame.event} `;
    var detail = document.createElement('code');
    detail.textContent = JSON.stringify(frame.data);
    item.append(time, name, detail);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > MAX_OPS) list.removeChild(list.lastChild);
    $('ops-note').textContent = `${ops.length} recent operational events`;
  }

  function add(sample) {
    samples.push(sample);
    if (samples.length > MAX_POINTS) samples.shift();
    render();
  }

  function fmt(n, digits) {
    if (n === undefined || n === null || Number.isNaN(n)) return '–';
    if (Math.abs(n) >= 1000) return `${(n / 1000).toFixed(1)}k`;
    return Number(n).toFixed(digits === undefined ? 0 : digits);
  }

  function render() {
    var last = samples[samples.length - 1];
    $('t-connections').textContent = fmt(last.connections);
    $('t-delivered').textContent = fmt(last.rates.deliveries, 1);
    $('t-published').textContent = fmt(last.rates.published, 1);
    $('t-latency').textContent = `${fmt(last.latency.p99Ms, 0)} ms`;
    $('t-heap').textContent = `${fmt(last.memory.heapUsed / 1048576, 1)} MB`;
    $('t-level').textContent = last.memory.level;
    $('t-level').dataset.level = last.memory.level;
    $('t-lag').textContent = `${fmt(last.eventLoopLag.p99Ms, 1)} ms`;
    $('health').textContent = last.health;
    $('health').dataset.health = last.health;
    $('footer').textContent =
      samples.length +
      ' samples · last at ' +
      new Date(last.ts).toLocaleTimeString() +
      ' · ' +
      last.channels +
      ' channels, ' +
      last.subscriptions +
      ' subscriptions';
    document.body.dataset.points = String(samples.length);

    chart('c-connections', [
      {
        label: 'connections',
        color: '#3182ce',
        values: samples.map((s) => s.connections),
      },
    ]);
    chart('c-messages', [
      {
        label: 'delivered/s',
        color: '#38a169',
        values: samples.map((s) => s.rates.deliveries),
      },
      {
        label: 'published/s',
        color: '#805ad5',
        values: samples.map((s) => s.rates.published),
      },
      {
        label: 'commands in/s',
        color: '#dd6b20',
        values: samples.map((s) => s.rates.commandsIn),
      },
    ]);
    chart('c-latency', [
      {
        label: 'p99',
        color: '#e53e3e',
        values: samples.map((s) => s.latency.p99Ms),
      },
      {
        label: 'p50',
        color: '#d69e2e',
        values: samples.map((s) => s.latency.p50Ms),
      },
      {
        label: 'avg',
        color: '#718096',
        values: samples.map((s) => s.latency.averageMs),
      },
    ]);
    chart('c-memory', [
      {
        label: 'heap used',
        color: '#2b6cb0',
        values: samples.map((s) => s.memory.heapUsed / 1048576),
      },
      {
        label: 'rss',
        color: '#a0aec0',
        values: samples.map((s) => s.memory.rss / 1048576),
      },
    ]);
  }

  var NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Draws line series into an SVG (viewBox 600×220): grid, y-axis labels, lines, an area under the first series, a legend. */
  function chart(id, series) {
    var svg = $(id);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 600,
      H = 220,
      left = 44,
      right = 10,
      top = 26,
      bottom = 20;
    var n = series[0].values.length;
    var max = 0;
    series.forEach((s) => {
      s.values.forEach((v) => {
        if (v > max) max = v;
      });
    });
    max = niceMax(max);
    var steps = 5;
    for (let g = 0; g <= steps; g++) {
      const gy = top + ((H - top - bottom) * g) / steps;
      svg.appendChild(el('line', { class: 'grid', x1: left, x2: W - right, y1: gy, y2: gy }));
      svg.appendChild(
        el(
          'text',
          { class: 'axis', x: left - 6, y: gy + 4, 'text-anchor': 'end' },
          fmt((max * (steps - g)) / steps, max < steps ? 1 : 0),
        ),
      );
    }
    svg.appendChild(el('text', { class: 'axis', x: left, y: H - 4 }, n > 1 ? `−${n - 1} s` : ''));
    svg.appendChild(el('text', { class: 'axis', x: W - right, y: H - 4, 'text-anchor': 'end' }, 'now'));
    // the samples held span the full width (oldest left, newest right)
    var x = (i) => (n <= 1 ? W - right : left + ((W - left - right) * i) / (n - 1));
    var y = (v) => top + (H - top - bottom) * (1 - (max === 0 ? 0 : v / max));
    var legendX = left;
    series.forEach((s, index) => {
      var pts = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v || 0).toFixed(1)}`);
      if (index === 0 && pts.length > 1) {
        svg.appendChild(
          el('polygon', {
            class: 'area',
            fill: s.color,
            points: `${x(0)},${y(0)} ${pts.join(' ')} ${x(n - 1)},${y(0)}`,
          }),
        );
      }
      var line = el('polyline', { class: 'line', stroke: s.color, points: pts.join(' ') });
      line.dataset.points = String(pts.length);
      svg.appendChild(line);
      if (pts.length === 1) svg.appendChild(el('circle', { cx: x(0), cy: y(s.values[0] || 0), r: 3, fill: s.color }));
      var last = s.values[s.values.length - 1];
      var text = `● ${s.label} ${fmt(last, Number.isInteger(last) || last >= 10 ? 0 : 1)}`;
      svg.appendChild(el('text', { class: 'legend', x: legendX, y: 14, fill: s.color }, text));
      legendX += 16 + text.length * 7;
    });
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = 10 ** Math.floor(Math.log10(v));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  window.dashboard = {
    points: () => samples.length,
    samples: samples,
    ops: ops,
  };
  ['c-connections', 'c-messages', 'c-latency', 'c-memory'].forEach((id) => {
    $(id).appendChild(
      el('text', { class: 'empty', x: 300, y: 115, 'text-anchor': 'middle' }, 'waiting for the first sample…'),
    );
  });
  connect();
})();
