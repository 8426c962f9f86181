// The live feed of the market page: events as the indexer applies them, reorg retractions as
// such. Everything else on the console works without this script.
"use strict";
(function () {
  const feed = document.getElementById("feed");
  if (!feed || !window.EventSource) return;
  const body = feed.tBodies[0];
  const after = feed.dataset.after || "0";
  const source = new EventSource("/v1/events?after=" + encodeURIComponent(after));
  // The market's tokens ({address: [symbol, decimals]}) and, as they are learnt, each lease's.
  const tokens = JSON.parse(feed.dataset.tokens || "{}");
  const leaseTokens = new Map();
  // Cells as [text or node, numeric, code]: like the rows the server rendered.
  function row(cells, className) {
    const tr = document.createElement("tr");
    if (className) tr.className = className;
    for (const [content, numeric, code] of cells) {
      const td = document.createElement("td");
      if (numeric) td.className = "num";
      if (content instanceof Node) {
        td.appendChild(content);
      } else if (code) {
        const c = document.createElement("code");
        c.textContent = content;
        td.appendChild(c);
      } else {
        td.textContent = content;
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
  function shortAddress(address) {
    return address.slice(0, 6) + "…" + address.slice(-4);
  }
  function link(href, text) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }
  // Raw units in a token's decimals, trailing zeros dropped: the display rule of the server's
  // `format_units`, which renders every other amount on these pages.
  function formatUnits(raw, decimals) {
    const digits = raw.padStart(decimals + 1, "0");
    const whole = digits.slice(0, digits.length - decimals);
    const fraction = digits.slice(digits.length - decimals).replace(/0+$/, "");
    return fraction ? whole + "." + fraction : whole;
  }
  function amountText(name, raw, token) {
    const known = token && tokens[token.toLowerCase()];
    return name + " " + (known ? formatUnits(raw, known[1]) + " " + known[0] : raw + " (raw)");
  }
  // A lease's token, asked once per lease (the API's answer, cached by the server too).
  async function leaseToken(id) {
    if (!leaseTokens.has(id)) {
      leaseTokens.set(id, fetch("/v1/leases/" + id).then((r) => (r.ok ? r.json() : null)).then((j) => j && j.data.token).catch(() => null));
    }
    return leaseTokens.get(id);
  }
  source.addEventListener("applied", (message) => {
    const e = JSON.parse(message.data);
    const s = e.summary || { parties: [], amount: null, token: null };
    const lease = e.lease_id != null ? link("/leases/" + e.lease_id, String(e.lease_id)) : "";
    const who = document.createElement("span");
    for (const [role, address] of s.parties) {
      const party = document.createElement("span");
      party.className = "party";
      party.append(role + " ", link("/accounts/" + address, shortAddress(address)), " ");
      who.appendChild(party);
    }
    const amount = document.createElement("span");
    const tr = row([[String(e.seq), true], [String(e.block_number), true], [e.name || "?", false], [lease, false], [who, false], [amount, true], [short(e.tx_hash), false, true]], "new");
    tr.cells[5].dataset.field = "amount";
    if (s.amount) {
      amount.textContent = amountText(s.amount.name, s.amount.raw, s.token);
      if (!s.token && e.lease_id != null) {
        leaseToken(e.lease_id).then((token) => {
          if (token) amount.textContent = amountText(s.amount.name, s.amount.raw, token);
        });
      }
    }
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
    row([["", true], [String(r.above), true], ["reorg: events above block " + r.above + " retracted", false], ["", false], ["", false], ["", true], ["", false]], "reorg");
  });
})();
