export { ADMIN_SCRIPT } from './script';

/**
 * The admin page: static HTML (nothing secret in it), its script and style served beside it (`<path>/admin.js`,
 * `<path>/admin.css`) so the Content-Security-Policy allows no inline code. The script asks for the admin token and
 * keeps it in the tab's `sessionStorage`; it sends it only as `Authorization: Bearer` on its own API calls.
 */
export function adminPage(base: string): string {
  // base is validated (letters, digits, . _ ~ - /): nothing to escape
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>unisocket admin</title>
<link rel="stylesheet" href="${base}/admin.css">
<script src="${base}/admin.js" defer></script>
</head>
<body data-base="${base}">
<header>
  <h1>unisocket admin</h1>
  <span id="node" class="muted"></span>
  <button id="signout" type="button" hidden>Sign out</button>
</header>
<section id="login">
  <h2>Sign in</h2>
  <p class="muted">Enter the admin token (the service's <code>admin.token</code> / <code>ADMIN_TOKEN</code>). It stays in this tab only.</p>
  <form id="login-form" autocomplete="off">
    <input id="token" type="password" placeholder="admin token" aria-label="admin token" required minlength="1">
    <button type="submit">Sign in</button>
  </form>
  <p id="login-error" class="error" role="alert"></p>
</section>
<main id="app" hidden>
  <nav>
    <button type="button" data-view="overview" class="active">Overview</button>
    <button type="button" data-view="connections">Connections</button>
    <button type="button" data-view="channels">Channels</button>
    <button type="button" data-view="publish">Publish</button>
  </nav>
  <p id="error" class="error" role="alert"></p>
  <section id="view-overview" class="view">
    <h2>Node <span class="scope">this node</span></h2>
    <dl id="overview-node"></dl>
    <h2>Live charts <span class="scope">this node · every second</span></h2>
    <div id="charts" class="charts"></div>
    <h2>Queues and breakers <span class="scope" id="ops-scope">cluster-wide on Redis (BullMQ), else this node</span></h2>
    <pre id="operations"></pre>
  </section>
  <section id="view-connections" class="view" hidden>
    <h2>Connections <span class="scope">this node</span></h2>
    <form id="conn-filter" class="row">
      <input name="user" placeholder="user">
      <input name="channel" placeholder="channel">
      <input name="transport" placeholder="transport">
      <input name="ip" placeholder="IP">
      <button type="submit">Filter</button>
    </form>
    <table id="conn-table"><thead><tr><th>id</th><th>user</th><th>transport</th><th>IP</th><th>channels</th><th>connected</th><th>msgs out</th><th>bytes out</th><th></th></tr></thead><tbody></tbody></table>
    <div class="row"><button type="button" id="conn-prev">‹ Prev</button><span id="conn-page"></span><button type="button" id="conn-next">Next ›</button></div>
  </section>
  <section id="view-channels" class="view" hidden>
    <h2>Channels <span class="scope" id="channels-scope"></span></h2>
    <table id="chan-table"><thead><tr><th>channel</th><th>this node</th><th>cluster</th></tr></thead><tbody></tbody></table>
    <div id="channel-detail" hidden>
      <h3 id="cd-title"></h3>
      <p id="cd-counts"></p>
      <div id="cd-presence"></div>
      <h3>History <span class="scope">the broker's: shared by every node on Redis</span></h3>
      <p id="hist-info"></p>
      <table id="hist-table"><thead><tr><th>offset</th><th>time</th><th>event</th><th>data</th></tr></thead><tbody></tbody></table>
      <div class="row"><button type="button" id="hist-prev">‹ Older</button><button type="button" id="hist-next">Newer ›</button><button type="button" id="hist-latest">Newest</button></div>
    </div>
  </section>
  <section id="view-publish" class="view" hidden>
    <h2>Publish <span class="scope">to every node</span></h2>
    <form id="publish-form">
      <label>Channel <input name="channel" required></label>
      <label>Event <input name="event" required value="admin"></label>
      <label>Data (JSON) <textarea name="data" rows="4">{"text":"hello"}</textarea></label>
      <button type="submit">Publish</button>
    </form>
    <p id="publish-result" class="ok"></p>
  </section>
</main>
</body>
</html>
`;
}

/** The page's style sheet. */
export const ADMIN_CSS = `:root{color-scheme:light dark;font:14px/1.4 system-ui,sans-serif}
body{margin:0;padding:0 1rem 2rem}
header{display:flex;gap:1rem;align-items:baseline;border-bottom:1px solid #8884}
h1{font-size:1.2rem}h2{font-size:1.05rem;margin-top:1.5rem}h3{font-size:1rem}
.muted,.scope{color:#888;font-size:.85em;font-weight:normal}
.scope{border:1px solid #8886;border-radius:4px;padding:0 .3em;margin-left:.4em}
.error{color:#d33;font-weight:bold}.ok{color:#2a2}
nav{display:flex;gap:.3rem;margin:.8rem 0}nav button.active{font-weight:bold;border-bottom:2px solid #36c}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border-bottom:1px solid #8883;padding:.25rem .4rem;text-align:left;vertical-align:top}
td.data{font-family:monospace;white-space:pre-wrap;word-break:break-all;max-width:40rem}
tr.clickable{cursor:pointer}tr.clickable:hover{background:#8882}
.row{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;margin:.4rem 0}
form label{display:block;margin:.4rem 0}textarea{width:100%;max-width:40rem;font-family:monospace}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{color:#888}dd{margin:0}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:1rem}
.chart{border:1px solid #8884;border-radius:6px;padding:.4rem}.chart .value{font-size:1.3rem;font-weight:bold}
.chart svg{width:100%;height:70px;display:block}.chart polyline{fill:none;stroke:#36c;stroke-width:2}
pre{background:#8881;padding:.5rem;overflow:auto;max-height:20rem}
`;
