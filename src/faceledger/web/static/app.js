// faceledger web UI: small, dependency-free. Each page's data comes from the JSON API,
// authenticated by the HttpOnly session cookie (or, on the rights page, the one-time token).
// Every state-changing request carries the session's CSRF token (from the page's <meta>).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
};

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

async function api(path, options = {}) {
  const method = (options.method || "GET").toUpperCase();
  const headers = { ...(options.headers || {}) };
  if (method !== "GET" && method !== "HEAD" && csrfToken()) headers["x-csrf-token"] = csrfToken();
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const err = (body && body.error) || { code: "http_" + response.status, message: String(body) };
    throw Object.assign(new Error(err.message), { code: err.code, status: response.status });
  }
  return body;
}

function showError(target, err) {
  target.textContent = `${err.message} (${err.code || "error"})`;
  target.className = "status error";
}

function dropZone(zone, input, preview) {
  const show = () => {
    const file = input.files[0];
    if (!file || !preview) return;
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
  };
  input.addEventListener("change", show);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) {
      input.files = e.dataTransfer.files;
      show();
    }
  });
}

// -- search ---------------------------------------------------------------------------------
function matchCard(m) {
  const card = el("figure", { class: `match ${m.decision.replace(" ", "-")}`, "data-testid": "match" });
  card.append(
    el("img", { src: m.crop_url, alt: `face ${m.face_id}`, loading: "lazy" }),
    el("figcaption", {},
      el("strong", { text: `${(m.similarity * 100).toFixed(1)} %`, "data-testid": "similarity" }),
      " ",
      el("span", { class: "decision", text: m.decision, "data-testid": "decision" }),
      el("br"),
      el("span", { text: m.source }),
      " · ",
      el("a", { href: m.photo_url, target: "_blank", rel: "noopener", text: m.photo_name || "photo" }),
      el("br"),
      el("span", { class: "quality", text: faceQuality(m), "data-testid": "quality" }),
    ),
  );
  return card;
}

function personCard(p) {
  const card = el("a", { class: "person-result", href: p.url, "data-testid": "person-result" });
  if (p.cover_url) card.append(el("img", { src: p.cover_url, alt: `person ${p.person}`, loading: "lazy" }));
  card.append(el("span", { class: "person-caption" },
    el("strong", { text: p.name || `Person ${p.person}`, "data-testid": "person-name" }),
    el("br"),
    el("span", { text: `${(p.best_similarity * 100).toFixed(1)} % best · ${p.matched_faces.length} matched`, "data-testid": "person-best" }),
    el("br"),
    el("span", { text: `${p.faces} faces · ${p.photos} photos`, "data-testid": "person-counts" }),
    el("br"),
    el("span", { text: (p.sources || []).join(", "), "data-testid": "person-sources" }),
  ));
  return card;
}

function faceQuality(f) {
  if (f.quality === null || f.quality === undefined) return "quality unknown";
  const pose = f.yaw === null || f.yaw === undefined ? "" : ` · yaw ${Math.round(f.yaw)}° pitch ${Math.round(f.pitch)}°`;
  return `quality ${f.quality.toFixed(2)}${pose}`;
}

function initSearch() {
  const form = $("#search-form");
  dropZone($("#drop"), $("#probe"), $("#preview"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const status = $("#search-status");
    const results = $("#results");
    if (!$("#probe").files.length) { status.textContent = "Choose or drop a photo first."; return; }
    status.className = "status";
    status.textContent = "Searching…";
    results.replaceChildren();
    const started = performance.now();
    try {
      const data = await api("/api/search", { method: "POST", body: new FormData(form) });
      const ms = Math.round(performance.now() - started);
      status.textContent = `${data.faces.length} face(s) in the probe · ${ms} ms · match threshold ${data.match_threshold.toFixed(3)} (FAR ${data.far})`;
      data.faces.forEach((face, i) => {
        const grid = el("div", { class: "grid-results" });
        face.matches.forEach((m) => grid.append(matchCard(m)));
        results.append(el("h2", { text: `Probe face ${i + 1}` }),
          el("p", { class: "probe-quality", text: faceQuality(face), "data-testid": "probe-quality" }));
        if (face.uncertain) {
          results.append(el("p", { class: "warning", role: "alert", text: face.warning, "data-testid": "probe-warning" }));
        }
        if (face.persons && face.persons.length) {
          const persons = el("div", { class: "person-results", "data-testid": "persons" });
          face.persons.forEach((p) => persons.append(personCard(p)));
          results.append(el("h3", { text: "Persons" }), persons, el("h3", { text: "Faces" }));
        }
        results.append(grid);
      });
    } catch (err) {
      showError(status, err);
    }
  });
}

// -- ingest ---------------------------------------------------------------------------------
function initIngest() {
  const form = $("#ingest-form");
  let timer = null;
  const render = (run) => {
    $("#run").hidden = false;
    $("#run-id").textContent = run.id;
    $("#run-status").textContent = run.status;
    $("#run-progress").value = run.fraction;
    $("#run-counts").textContent =
      `${run.done} / ${run.total} photos · ${run.faces} faces · ${run.errors} errors · ` +
      `${run.duplicates} duplicates · ${run.elapsed.toFixed(1)} s` +
      (run.report ? ` · ${run.report.skipped} already held` : "") +
      (run.error ? ` · ${run.error.message}` : "");
    $("#stop-run").hidden = run.status !== "running";
    $("#stop-run").onclick = () => api(`/api/ingest/runs/${run.id}/stop`, { method: "POST" });
  };
  const poll = async (id) => {
    const run = await api(`/api/ingest/runs/${id}`);
    render(run);
    if (run.status === "running") timer = setTimeout(() => poll(id), 500);
    else loadHistory();
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearTimeout(timer);
    try {
      const run = await api("/api/ingest/runs", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ source: form.source.value }),
      });
      render(run);
      poll(run.id);
    } catch (err) {
      $("#run").hidden = false;
      showError($("#run-counts"), err);
    }
  });
  const loadHistory = async () => {
    const data = await api("/api/ingest/runs");
    const body = $("#history tbody");
    body.replaceChildren(...data.history.map((r) => el("tr", {},
      ...[r.id, r.source, r.status, r.photos, r.faces, r.errors, r.skipped, r.seconds]
        .map((v) => el("td", { text: String(v) })))));
    const live = data.live.find((r) => r.status === "running");
    if (live && !timer) poll(live.id);
  };
  loadHistory();
}

// -- audit ----------------------------------------------------------------------------------
function initAudit() {
  let oldest = null;
  const body = $("#audit tbody");
  const short = (o) => { const s = JSON.stringify(o); return s.length > 120 ? s.slice(0, 117) + "…" : s; };
  const load = async () => {
    const q = oldest === null ? "newest_first=true&limit=100"
      : `since_seq=${Math.max(0, oldest - 101)}&limit=${Math.min(100, oldest - 1)}&newest_first=false`;
    const data = await api(`/api/audit?${q}`);
    let entries = data.entries;
    if (oldest !== null) entries = entries.reverse();
    for (const e of entries) {
      body.append(el("tr", {}, ...[e.seq, e.at.replace("T", " ").slice(0, 19), e.action, e.actor,
        e.purpose || "", e.case || "", short(e.inputs), short(e.outputs)].map((v) => el("td", { text: String(v) }))));
      oldest = oldest === null ? e.seq : Math.min(oldest, e.seq);
    }
    $("#audit-more").hidden = !oldest || oldest <= 1;
  };
  $("#audit-more").addEventListener("click", load);
  $("#verify-audit").addEventListener("click", async () => {
    const out = $("#verify-result");
    try {
      const v = await api("/api/audit/verify");
      out.textContent = v.ok ? `OK: ${v.entries} entries, head ${v.head_hash.slice(0, 16)}…`
        : `BROKEN at entry ${v.first_bad_seq}: ${v.reason}`;
      out.className = v.ok ? "status ok" : "status error";
    } catch (err) { showError(out, err); }
  });
  load();
}

// -- admin ----------------------------------------------------------------------------------
function initAdmin() {
  const loadKeys = async () => {
    const data = await api("/api/keys");
    $("#keys tbody").replaceChildren(...data.keys.map((k) => {
      const revoke = el("button", { type: "button", text: "Revoke" });
      revoke.disabled = !!k.revoked_at;
      revoke.onclick = async () => { await api(`/api/keys/${k.id}`, { method: "DELETE" }); loadKeys(); };
      const used = k.last_used_at ? new Date(k.last_used_at * 1000).toISOString().slice(0, 19) : "never";
      return el("tr", {}, ...[k.id, k.name, k.role, used, k.revoked_at ? "revoked" : "active"]
        .map((v) => el("td", { text: v })), el("td", {}, revoke));
    }));
  };
  const postJson = (path, form) => api(path, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify(Object.fromEntries(new FormData(form))),
  });
  $("#key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("#new-key");
    out.hidden = false;
    try {
      const k = await postJson("/api/keys", e.target);
      out.textContent = `New ${k.role} key for ${k.name} (shown once): ${k.key}`;
      loadKeys();
    } catch (err) { showError(out, err); }
  });
  $("#token-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("#new-token");
    out.hidden = false;
    try {
      // multipart: the reference photo goes with the subject and the kind
      const t = await api("/api/subject-tokens", { method: "POST", body: new FormData(e.target) });
      out.textContent = `One-time ${t.kind} token for ${t.subject} (shown once): ${t.token}`;
      out.dataset.token = t.token;
    } catch (err) { showError(out, err); }
  });
  $("#source-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("#source-result");
    try {
      const s = await postJson("/api/sources", e.target);
      out.textContent = `Source ${s.name} added (${s.lawful_basis_text}).`;
      out.className = "status ok";
    } catch (err) { showError(out, err); }
  });
  loadKeys();
}

// -- rights ---------------------------------------------------------------------------------
function initRights() {
  const form = $("#rights-form");
  dropZone($("#selfie-drop"), $("#selfie"), $("#selfie-preview"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const status = $("#rights-status");
    const out = $("#rights-result");
    out.replaceChildren();
    if (!$("#selfie").files.length) { status.textContent = "Choose a selfie first."; return; }
    const body = new FormData();
    body.append("selfie", $("#selfie").files[0]);
    if (form.kind.value === "watch") {
      body.append("webhook_url", form.webhook_url.value);
      body.append("days", form.days.value || "30");
    }
    status.className = "status";
    status.textContent = "Sending…";
    try {
      const data = await api(`/api/rights/${form.kind.value}`, {
        method: "POST", body, headers: { authorization: `Bearer ${form.token.value.trim()}` },
      });
      form.token.value = "";
      if (data.request === "access") {
        status.textContent = `We hold ${data.faces.length} photo(s) of your face. Your token is now used.`;
        const grid = el("div", { class: "grid-results" });
        for (const f of data.faces) {
          grid.append(el("figure", { class: "match", "data-testid": "own-face" },
            el("img", { src: f.crop_data_url || "", alt: "your face" }),
            el("figcaption", {},
              el("strong", { text: f.photo_name }), el("br"),
              el("span", { text: `${f.source} · ${(f.similarity * 100).toFixed(1)} %` }), el("br"),
              el("span", { class: "quality", text: faceQuality(f), "data-testid": "own-face-quality" }), el("br"),
              el("small", { text: `held by ${f.controller} for "${f.purpose}" under ` +
                `${f.lawful_basis.text} and ${f.special_category_condition.text}; ` +
                `collected ${f.collected_at.slice(0, 10)}, erased by ${f.erase_by.slice(0, 10)}; ` +
                `returned by ${f.returned_by_searches} logged search(es)` }))));
        }
        const p = data.processing || { purposes: [], categories_of_data: [], recipients: [], retention: [] };
        const list = (items) => el("ul", {}, ...items.map((t) => el("li", { text: t })));
        const how = el("section", { class: "card", "data-testid": "processing" },
          el("h2", { text: "How your data is processed" }),
          el("h3", { text: "Purposes" }),
          list(p.purposes.map((x) => `${x.purpose} (${x.source}, ${x.controller}; ${x.lawful_basis.text})`)),
          el("h3", { text: "Categories of data" }), list(p.categories_of_data),
          el("h3", { text: "Who can see it" }), list(p.recipients.map((r) => `${r.role}: ${r.receives}`)),
          el("h3", { text: "Retention" }), list(p.retention.map((r) => `${r.source}: ${r.retention_days} days`)));
        out.append(grid, how, el("p", { class: "card", text: data.your_rights }));
      } else if (data.watch) {  // a watch on oneself (subjects.js's pages show it to operators)
        status.textContent = `Watching until ${data.watch.expires_at.slice(0, 10)}. Your token is now used.`;
        out.append(el("p", { class: "secret", "data-testid": "watch-secrets",
          text: `Webhook signing secret: ${data.webhook_secret} — to stop, withdraw with: ${data.withdraw_credential}` }));
      } else {
        const r = data.result || {};
        const erased = r.faces || (r.erased && r.erased.faces) || [];
        status.textContent = `Done: ${data.request.replace("_", "-")}; ${erased.length} face(s) erased. Your token is now used.`;
        out.append(el("pre", { text: JSON.stringify(data.result, null, 2) }));
      }
    } catch (err) {
      showError(status, err);
    }
  });
}

// -- rights-request register ---------------------------------------------------------------
function initRequests() {
  const form = $("#request-form");
  if (!form) return;  // auditors read the register; admins record requests
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("#request-result");
    const data = Object.fromEntries(new FormData(form));
    if (!data.received_at) delete data.received_at;
    try {
      const r = await api("/api/requests", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(data),
      });
      out.textContent = `Recorded ${r.id}, due ${r.due.slice(0, 10)}.`;
      out.className = "status ok";
      setTimeout(() => window.location.reload(), 300);
    } catch (err) { showError(out, err); }
  });
}

function initPhoto() {
  // face boxes are placed from data attributes: the CSP allows no inline style attributes
  for (const box of document.querySelectorAll(".facebox")) {
    for (const side of ["left", "top", "width", "height"]) {
      const value = Number(box.dataset[side]);
      if (Number.isFinite(value)) box.style[side] = `${value}%`;
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  ({ photo: initPhoto, search: initSearch, ingest: initIngest, audit: initAudit, admin: initAdmin, rights: initRights, requests: initRequests }[page] || (() => {}))();
});
