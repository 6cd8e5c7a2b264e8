// Subjects and Alerts pages. Uses app.js's helpers (api, $, el, showError): both scripts
// are deferred, so this one runs after app.js, before DOMContentLoaded.
"use strict";

function initSubjects() {
  const enrol = $("#enrol-form");
  if (enrol) {
    enrol.addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = $("#enrol-result");
      const body = new FormData();
      for (const k of ["name", "source", "consent", "purpose", "case"]) body.append(k, enrol[k].value);
      [...enrol.photos.files].slice(0, 5).forEach((f, i) => body.append(`photo${i + 1}`, f));
      out.className = "status";
      out.textContent = "Enrolling…";
      try {
        const s = await api("/api/subjects", { method: "POST", body });
        out.textContent = `Enrolled ${s.name} (subject ${s.id}, ${s.templates} template(s)).`;
        out.className = "status ok";
        setTimeout(() => window.location.reload(), 400);
      } catch (err) { showError(out, err); }
    });
  }
  for (const b of document.querySelectorAll(".subject-delete")) {
    b.addEventListener("click", async () => {
      try {
        await api(`/api/subjects/${b.dataset.subject}?purpose=${encodeURIComponent("deleted from the subjects page")}`, { method: "DELETE" });
        window.location.reload();
      } catch (err) { showError($("#enrol-result") || $("#recognize-status"), err); }
    });
  }
  const watch = $("#watch-form");
  for (const b of document.querySelectorAll(".watch-open")) {
    b.addEventListener("click", () => {
      watch.hidden = false;
      watch.subject_id.value = b.dataset.subject;
      $("#watch-subject").textContent = b.dataset.subject;
      watch.webhook_url.focus();
    });
  }
  if (watch) {
    watch.addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = $("#watch-result");
      out.hidden = false;
      const data = { webhook_url: watch.webhook_url.value, days: Number(watch.days.value),
        purpose: watch.purpose.value, case: watch.case.value };
      try {
        const r = await api(`/api/subjects/${watch.subject_id.value}/watches`, {
          method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(data) });
        out.className = "secret";
        out.textContent = `Watch ${r.watch.id} on ${r.watch.label} until ${r.watch.expires_at.slice(0, 10)}. ` +
          `Webhook signing secret (shown once): ${r.webhook_secret}`;
      } catch (err) { showError(out, err); }
    });
  }
  const rec = $("#recognize-form");
  if (rec) {
    rec.addEventListener("submit", async (e) => {
      e.preventDefault();
      const status = $("#recognize-status");
      const body = new FormData();
      body.append("photo", rec.photo.files[0]);
      body.append("purpose", rec.purpose.value);
      body.append("case", rec.case.value);
      status.className = "status";
      status.textContent = "Recognising…";
      try {
        const r = await api("/api/recognize", { method: "POST", body });
        status.textContent = `${r.faces.length} face(s); match at FAR ${r.far} (similarity >= ${r.match_threshold.toFixed(3)}).`;
        $("#recognized tbody").replaceChildren(...r.faces.map((f, i) => el("tr", { "data-testid": "recognized-face" },
          el("td", { text: String(i + 1) }),
          el("td", { text: f.candidate ? `${f.label} (possibly ${f.candidate})` : f.label, "data-testid": "label" }),
          el("td", { text: f.decision, "data-testid": "decision" }),
          el("td", { text: f.similarity === null ? "-" : `${(f.similarity * 100).toFixed(1)} %` }),
          el("td", { text: f.source || "" }))));
      } catch (err) { showError(status, err); }
    });
  }
}

function initAlerts() {
  for (const b of document.querySelectorAll(".watch-withdraw")) {
    b.addEventListener("click", async () => {
      const out = $("#alerts-status");
      try {
        await api(`/api/watches/${b.dataset.watch}?purpose=${encodeURIComponent("withdrawn from the alerts page")}`, { method: "DELETE" });
        out.textContent = `Watch ${b.dataset.watch} withdrawn; its template is deleted.`;
        out.className = "status ok";
        setTimeout(() => window.location.reload(), 300);
      } catch (err) { showError(out, err); }
    });
  }
}

// the rights page: a data subject ends their own watch with its withdrawal credential
function initWithdraw() {
  const form = $("#withdraw-form");
  if (!form) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("#withdraw-status");
    try {
      const r = await api("/api/watches/withdraw", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ credential: form.credential.value.trim() }) });
      form.credential.value = "";
      out.textContent = `Watch ${r.withdrawn.join(", ")} stopped; its template is deleted.`;
      out.className = "status ok";
    } catch (err) { showError(out, err); }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  ({ subjects: initSubjects, alerts: initAlerts, rights: initWithdraw }[page] || (() => {}))();
});
