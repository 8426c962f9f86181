// The live feed of the market page: events as the indexer applies them, reorg retractions as
// such. Everything else on the console works without this script.
"use strict";
(function () {
  const feed = document.getElementById("feed");
  if (!feed || !window.EventSource) return;
  const body = feed.tBodies[0];
  const after = feed.dataset.after || "0";
  const source = new EventSource("/v1/events?after=" + encodeURIComponent(after));
  // Cells as [text, numeric, code]: like the rows the server rendered.
  function row(cells, className) {
    const tr = document.createElement("tr");
    if (className) tr.className = className;
    for (const [text, numeric, code] of cells) {
      const td = document.createElement("td");
      if (numeric) td.className = "num";
      if (code) {
        const c = document.createElement("code");
        c.textContent = text;
        td.appendChild(c);
      } else {
        td.textContent = text;
      }
      tr.appendChild(td);
    }
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > 50) body.deleteRow(body.rows.length - 1);
    return tr;
  }
  function short(hash) {
    return hash && hash.length > 16 ? hash.slice(0, 10) + "…" + hash.slice(-6) : hash || "";
  }
  source.addEventListener("applied", (message) => {
    const e = JSON.parse(message.data);
    const tr = row([[String(e.seq), true], [String(e.block_number), true], [e.name || "?", false], [short(e.tx_hash), false, true]], "new");
    tr.dataset.block = String(e.block_number);
    const number = document.getElementById("block-number");
    if (number && Number(number.textContent) < e.block_number) {
      number.textContent = String(e.block_number);
      const block = document.getElementById("block");
      if (block) {
        block.dataset.number = String(e.block_number);
        block.dataset.final = "false";
      }
      const final = document.getElementById("block-final");
      if (final) final.textContent = "not final yet";
    }
  });
  source.addEventListener("retracted", (message) => {
    const r = JSON.parse(message.data);
    for (const tr of body.rows) {
      if (Number(tr.dataset.block) > r.above) tr.classList.add("retracted");
    }
    row([["", true], [String(r.above), true], ["reorg: events above block " + r.above + " retracted", false], ["", false]], "reorg");
  });
})();
