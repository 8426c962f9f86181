// The live feed of the market page: events as the indexer applies them, reorg retractions as
// such; and the action forms, through the browser's own wallet. Everything else on the console
// works without this script.
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
      party.append(role + " ", link("/accounts/" + address.toLowerCase(), shortAddress(address)), " ");
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

// Actions through the browser's own wallet (EIP-1193). The server prepares each one by the SDK's
// rules (`POST /v1/actions/{action}`: its refusals come back in words); the wallet signs and
// sends; the page then waits until the mirror reaches the block the transaction landed in and
// reloads, so that what it shows is the indexer's. The wallet is looked up at click time: an
// extension may announce itself after the page loaded.
(function () {
  const forms = document.querySelectorAll("form.action");
  const done = sessionStorage.getItem("openlease-action");
  if (done) {
    sessionStorage.removeItem("openlease-action");
    const result = JSON.parse(done);
    const p = document.createElement("p");
    p.id = "action-result";
    p.className = "action-result";
    p.dataset.tx = result.tx;
    p.dataset.block = String(result.block);
    p.dataset.sentAt = String(result.sentAt);
    p.dataset.shownAt = String(result.shown);
    p.textContent = "Done: " + result.description + " — transaction " + result.tx + " mined in block " + result.block +
      ", shown here from block " + result.shown + ".";
    const main = document.querySelector("main");
    if (main) main.insertBefore(p, main.children[1] || null);
  }
  if (!forms.length) return;
  // EIP-6963: wallets that announce themselves rather than (or besides) taking window.ethereum.
  const announced = [];
  window.addEventListener("eip6963:announceProvider", (event) => {
    if (event.detail && event.detail.provider) announced.push(event.detail.provider);
  });
  window.dispatchEvent(new Event("eip6963:requestProvider"));
  const wallet = () => window.ethereum || announced[0] || null;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function say(form, text, kind) {
    const out = form.querySelector("output");
    out.textContent = text;
    out.className = "action-status" + (kind ? " " + kind : "");
  }

  async function prepare(action, body) {
    const response = await fetch("/v1/actions/" + encodeURIComponent(action), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    let answer;
    try {
      answer = await response.json();
    } catch (_) {
      answer = {};
    }
    if (!response.ok) throw new Error(answer.error || "the server answered " + response.status);
    return answer;
  }

  async function onChain(provider, chainId) {
    const have = await provider.request({ method: "eth_chainId" });
    if (parseInt(have, 16) === chainId) return;
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: "0x" + chainId.toString(16) }] });
  }

  async function mined(provider, hash) {
    for (;;) {
      const receipt = await provider.request({ method: "eth_getTransactionReceipt", params: [hash] });
      if (receipt && receipt.blockNumber) return receipt;
      await sleep(250);
    }
  }

  async function mirrored(block) {
    for (;;) {
      const response = await fetch("/v1/stats", { headers: { "cache-control": "no-cache" } });
      if (response.ok) {
        const stats = await response.json();
        if (stats.block && stats.block.number >= block) return stats.block.number;
      }
      await sleep(250);
    }
  }

  async function run(form) {
    const provider = wallet();
    if (!provider) {
      say(form, "A browser wallet is needed (MetaMask, Rabby…): none was found, so this page is read-only.", "error");
      return;
    }
    const [from] = await provider.request({ method: "eth_requestAccounts" });
    if (!from) throw new Error("the wallet gave no account");
    const body = { from };
    for (const [name, value] of new FormData(form)) {
      if (name === "capacity") body[name] = Number(value);
      else if (name === "paused") body[name] = value === "true";
      else if (value !== "") body[name] = String(value);
    }
    say(form, "Preparing…");
    const plan = await prepare(form.dataset.action, body);
    await onChain(provider, plan.chain_id);
    let steps = plan.steps.slice();
    let last = null;
    while (steps.length) {
      const step = steps.shift();
      if (step.kind === "sign_typed_data") {
        say(form, "Sign in your wallet: " + step.description);
        const signature = await provider.request({
          method: "eth_signTypedData_v4",
          params: [from, JSON.stringify(step.typed_data)],
        });
        const again = step.resubmit;
        again.permit.signature = signature;
        steps = (await prepare(form.dataset.action, again)).steps.concat(steps);
      } else if (step.kind === "send_transaction") {
        say(form, "Confirm in your wallet: " + step.description);
        const sentAt = parseInt(await provider.request({ method: "eth_blockNumber" }), 16);
        const hash = await provider.request({ method: "eth_sendTransaction", params: [step.transaction] });
        say(form, "Sent " + hash + " (" + step.description + "); waiting for it to be mined…");
        const receipt = await mined(provider, hash);
        if (receipt.status !== "0x1") throw new Error("transaction " + hash + " was mined but reverted");
        last = { tx: hash, block: parseInt(receipt.blockNumber, 16), sentAt, description: step.description };
      } else {
        throw new Error("a step this page does not know: " + step.kind);
      }
    }
    if (!last) return;
    say(form, "Mined in block " + last.block + ": " + last.tx + "; waiting for the indexer…");
    last.shown = await mirrored(last.block);
    last.description = plan.summary;
    sessionStorage.setItem("openlease-action", JSON.stringify(last));
    location.reload();
  }

  for (const form of forms) {
    form.querySelector("button").disabled = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      run(form)
        .catch((error) => say(form, "Refused: " + ((error && error.message) || String(error)), "error"))
        .finally(() => {
          button.disabled = false;
        });
    });
  }
})();
