// hub dashboard: the only script. Live progress for bulk jobs (polls the job's JSON);
// every page works without it.
"use strict";

(function () {
  const box = document.querySelector("[data-job]");
  if (!box || box.dataset.running !== "true") return;
  const id = box.dataset.job;
  const $ = (sel) => document.querySelector(sel);
  const fmt = new Intl.NumberFormat();

  async function poll() {
    let doc;
    try {
      const resp = await fetch(`/jobs/${encodeURIComponent(id)}/progress`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!resp.ok) throw new Error(String(resp.status));
      doc = await resp.json();
    } catch (err) {
      setTimeout(poll, 3000);
      return;
    }
    const bar = $("[data-job-bar]");
    bar.max = Math.max(doc.total, 1);
    bar.value = doc.done;
    $("[data-job-done]").textContent = fmt.format(doc.done);
    $("[data-job-total]").textContent = fmt.format(doc.total);
    $("[data-job-percent]").textContent = String(doc.percent);
    const err = $("[data-job-error]");
    if (doc.error) { err.textContent = doc.error; err.hidden = false; }
    if (doc.status === "running") {
      setTimeout(poll, 1000);
    } else {
      // Finished: reload once so the status pill, flash and links are the server's.
      window.location.reload();
    }
  }
  setTimeout(poll, 1000);
})();
