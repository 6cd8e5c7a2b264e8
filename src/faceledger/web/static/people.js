// People and person pages: merge, split, rename, hide, "not this person" through the API.
"use strict";
(() => {
  const token = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const status = document.getElementById("people-status");
  async function post(path, body) {
    const r = await fetch(path, { method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": token() },
      body: JSON.stringify(body || {}) });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((data.error && data.error.message) || ("HTTP " + r.status));
    return data;
  }
  const picked = () => [...document.querySelectorAll(".pick:checked")].map((x) => Number(x.value));
  const fail = (e) => { status.textContent = e.message; status.className = "status error"; };
  const merge = document.getElementById("merge");
  if (merge) merge.addEventListener("click", () => post("/api/people/merge", { persons: picked() })
    .then((d) => { location.href = "/people/" + d.person; }).catch(fail));
  const form = document.getElementById("rename-form");
  if (!form) return;
  const id = form.dataset.person;
  form.addEventListener("submit", (e) => { e.preventDefault();
    post(`/api/people/${id}/rename`, { name: form.elements.name.value })
      .then(() => location.reload()).catch(fail); });
  document.getElementById("split").addEventListener("click", () =>
    post("/api/people/split", { faces: picked() })
      .then((d) => { location.href = "/people/" + d.person; }).catch(fail));
  const hide = document.getElementById("hide");
  hide.addEventListener("click", () => post(`/api/people/${id}/hide`,
    { hidden: hide.dataset.hidden === "1" }).then(() => location.reload()).catch(fail));
  for (const b of document.querySelectorAll(".not-this")) b.addEventListener("click", () =>
    post(`/api/people/${id}/not-this`, { face: Number(b.dataset.face) })
      .then(() => location.reload()).catch(fail));
})();
