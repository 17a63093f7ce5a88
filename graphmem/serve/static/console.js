// GraphMem console: read-only views over the REST API with the signed-in key. Every value
// from the server is put into the page as text (textContent), never as HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("key")) {  // a link may carry the key in the fragment (never sent to servers)
    sessionStorage.setItem("graphmem-key", params.get("key"));
    params.delete("key");
    history.replaceState(null, "", location.pathname + (params.toString() ? "#" + params : ""));
  }
  const key = () => sessionStorage.getItem("graphmem-key");

  async function api(path, body) {
    const res = await fetch(path, {
      method: body ? "POST" : "GET",
      headers: Object.assign({ Authorization: "Bearer " + key() },
                             body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await res.json();
    if (!res.ok) {
      const e = data.error || {};
      throw new Error(`${res.status} ${e.reason}: ${e.message} (request ${e.request_id})`);
    }
    return data;
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    if (cls) {
      const span = document.createElement("span");
      span.className = "tag " + cls;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
    return td;
  }

  function fail(err) { $("error").textContent = String(err.message || err); }

  async function loadCubes() {
    const rows = $("cubes");
    rows.textContent = "";
    const page = await api("/v1/memories?include_archived=true&limit=200");
    $("count").textContent = `(${page.items.length}${page.next_offset ? "+" : ""})`;
    for (const c of page.items) {
      const tr = document.createElement("tr");
      tr.className = "cube";
      tr.dataset.id = c.meta.id;
      cell(tr, c.meta.kind, "kind");
      cell(tr, c.meta.status, c.meta.status);
      cell(tr, String(c.meta.version));
      cell(tr, c.payload.content);
      cell(tr, c.meta.scope).className = "muted";
      tr.addEventListener("click", () => {
        document.querySelectorAll("tr.sel").forEach((r) => r.classList.remove("sel"));
        tr.classList.add("sel");
        showCube(c.meta.id).catch(fail);
      });
      rows.appendChild(tr);
    }
  }

  async function showCube(id) {
    const [hist, turns] = await Promise.all([
      api(`/v1/memories/${encodeURIComponent(id)}/history`),
      api(`/v1/memories/${encodeURIComponent(id)}/turns`)]);
    const box = $("detail");
    box.textContent = "";
    box.className = "";
    const h = document.createElement("h3");
    h.textContent = id;
    box.appendChild(h);
    const versions = document.createElement("table");
    versions.id = "versions";
    for (const v of hist.versions) {
      const tr = document.createElement("tr");
      cell(tr, "v" + v.meta.version);
      cell(tr, v.payload.content);
      cell(tr, "by " + (v.meta.provenance.created_by || "?") +
               (v.meta.provenance.extractor ? ` via ${v.meta.provenance.extractor}` : ""));
      cell(tr, v.meta.updated.slice(0, 19).replace("T", " ")).className = "muted";
      versions.appendChild(tr);
    }
    box.appendChild(versions);
    const p = document.createElement("p");
    p.textContent = turns.turns.length ? "From the turns:" : "No source turns (stored directly).";
    box.appendChild(p);
    const list = document.createElement("ul");
    list.id = "turns";
    for (const t of turns.turns) {
      const li = document.createElement("li");
      li.textContent = `${t.role} (session ${t.session_id || "-"}): ${t.content}`;
      list.appendChild(li);
    }
    box.appendChild(list);
  }

  async function loadAudit() {
    const rows = $("audit");
    rows.textContent = "";
    for (const e of (await api("/v1/audit?limit=15")).events) {
      const tr = document.createElement("tr");
      cell(tr, (e.at || "").slice(0, 19).replace("T", " ")).className = "muted";
      cell(tr, e.action);
      cell(tr, e.result);
      cell(tr, (e.targets || []).slice(0, 3).join(", "));
      rows.appendChild(tr);
    }
  }

  async function search(q) {
    const rows = $("hits");
    rows.textContent = "";
    const res = await api("/v1/search", { query: q, limit: 10 });
    for (const hit of res.hits) {
      const tr = document.createElement("tr");
      tr.className = "hit";
      cell(tr, hit.score.toFixed(3));
      cell(tr, hit.cube.payload.content);
      const td = cell(tr, "");
      td.className = "scores";
      for (const [name, score] of Object.entries(hit.scores)) {
        const s = document.createElement("span");
        s.textContent = `${name} ${Number(score).toFixed(3)}`;
        td.appendChild(s);
      }
      rows.appendChild(tr);
    }
    if (!res.hits.length) cell(rows.insertRow(), "no results").colSpan = 3;
    loadAudit().catch(fail);
  }

  async function start() {
    if (!key()) { $("signin").hidden = false; return; }
    let me;
    try { me = await api("/v1/whoami"); } catch (err) {
      sessionStorage.removeItem("graphmem-key");
      $("signin").hidden = false;
      throw err;
    }
    $("who").textContent = `signed in as ${me.principal} (key ${me.key_id})`;
    $("app").hidden = false;
    await Promise.all([loadCubes(), loadAudit()]);
    const q = params.get("q");
    if (q) { $("q").value = q; await search(q); }
    const open = params.get("cube") || (document.querySelector("tr.cube") || {}).dataset?.id;
    if (open) await showCube(open);
    document.body.dataset.ready = "true";  // for tests and screenshots: everything loaded
  }

  $("keyform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("graphmem-key", $("key").value.trim());
    $("signin").hidden = true;
    start().catch(fail);
  });
  $("searchform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search($("q").value).catch(fail);
  });
  start().catch(fail);
})();
