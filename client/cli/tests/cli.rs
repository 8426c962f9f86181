//! The `openlease` binary against a market deployed on anvil: a provider's and a tenant's whole
//! life by hand with exact balances from `--json`, and each kind of mistake with its message.

mod util;

use serde_json::Value;
use util::{Market, USDC, openlease, raw, temp_dir};

/// The USDC entry of `status --json`.
fn usdc(status: &Value) -> &Value {
    status["tokens"].as_array().unwrap().iter().find(|t| t["symbol"] == "USDC").expect("USDC in status")
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn a_provider_lives_its_whole_life_by_hand() {
    let m = Market::deploy().await;
    let (provider, tenant, signer) = (1, 4, 6);
    let offer = m.provider_with_offer(provider, "5000 USDC");

    let shown = m.run(provider, &["provider", "show"]).json();
    assert_eq!(shown["profile"]["endpoint"], "https://gpu.example");
    assert_eq!(shown["offers"], serde_json::json!([offer]));
    let status = m.run(provider, &["status"]).json();
    assert_eq!(raw(&usdc(&status)["balance"]), 5000 * USDC);
    assert_eq!(raw(&usdc(&status)["stake"]["free"]), 5000 * USDC);
    assert_eq!(m.run(provider, &["offer", "list"]).json()["offers"].as_array().unwrap().len(), 1);
    // Governance reaches an offer's leases only with its provider's consent; nothing newer is in force yet.
    let refused = m.run(provider, &["offer", "accept-params", &offer]);
    assert!(
        refused.error().contains("parameters version 1 cannot be accepted: the offer has version 1"),
        "{}",
        refused.stderr
    );

    // A tenant leases twice and authorizes a session signer.
    m.run(tenant, &["token", "mint", "1000 USDC"]).json();
    let open = |deposit: &str| {
        let lease = m.run(tenant, &["lease", "open", &offer, "--duration", "7d", "--deposit", deposit]).json();
        lease["leaseId"].as_str().unwrap().to_string()
    };
    // A 7-day lease at 0.0001 USDC per second can use 60.48 USDC at most.
    let (lease1, lease2) = (open("60 USDC"), open("50 USDC"));
    let signer_address = m.address(signer).to_string();
    let provider_address = m.address(provider).to_string();
    m.run(
        tenant,
        &[
            "signer",
            "authorize",
            &signer_address,
            "--provider",
            &provider_address,
            "--cap",
            "50 USDC",
            "--expires",
            "30d",
        ],
    )
    .json();
    // An access grant for requests without a receipt (curl's), by the session signer; a key the
    // tenant never authorized still gets one, with the warning that the gateway will refuse it.
    let access = m.run(signer, &["lease", "access", &lease1, "--for", "5m"]).json();
    assert_eq!(access["header"], "openlease-access");
    assert_eq!(access["signer"].as_str().unwrap().to_lowercase(), signer_address.to_lowercase());
    let value = access["value"].as_str().unwrap();
    assert!(value.starts_with(&format!("{lease1}.")) && value.split('.').count() == 3, "{value}");
    let stranger = m.run(7, &["lease", "access", &lease1]);
    assert!(stranger.json()["value"].is_string());
    assert!(stranger.stderr.contains("the gateway will refuse this grant"), "{}", stranger.stderr);
    // Each lease locks a bond of 2 x 100 raw/s x 3,600 s of notice.
    let status = m.run(provider, &["status"]).json();
    assert_eq!(raw(&usdc(&status)["stake"]["locked"]), 2 * 720_000);

    m.advance(1000).await;
    let receipt = |name: &str, lease: &str, amount: &str| {
        let file = m.dir.join(name);
        m.run(
            signer,
            &["receipt", "sign", "--lease", lease, "--amount", amount, "--usage", name, "--out", path(&file)],
        )
        .json();
        file
    };
    let r1 = receipt("r1.json", &lease1, "0.05 USDC");
    let verified = m.run(provider, &["receipt", "verify", path(&r1)]).json();
    assert_eq!(raw(&verified["valid"][0]["payableNow"]), 50_000);

    // One receipt: settle, 1% fee.
    let settled = m.run(provider, &["settle", path(&r1)]).json();
    let outcome = &settled["outcomes"][0];
    assert_eq!(outcome["result"], "settled");
    assert_eq!((raw(&outcome["paid"]), raw(&outcome["fee"]), raw(&outcome["earned"])), (50_000, 500, 49_500));
    let nonce = m.nonce(provider).await;
    let again = m.run(provider, &["settle", path(&r1)]);
    assert!(again.error().contains("already settled"), "{}", again.stderr);
    assert!(again.stderr.contains("nothing was sent"), "{}", again.stderr);
    assert_eq!(m.nonce(provider).await, nonce, "a receipt that would pay nothing is not sent");

    // Many: settleBatch, one outcome per lease; a lease the market does not know has no token,
    // so no amounts.
    let (r2, r3) = (receipt("r2.json", &lease1, "0.08 USDC"), receipt("r3.json", &lease2, "0.03"));
    let mut unknown: Value = serde_json::from_str(&std::fs::read_to_string(&r3).unwrap()).unwrap();
    unknown["leaseId"] = "42".into();
    let r42 = m.dir.join("r42.json");
    std::fs::write(&r42, unknown.to_string()).unwrap();
    let batch = m.run(provider, &["settle", path(&r2), path(&r3), path(&r42)]).json();
    let outcomes = batch["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 3);
    for (outcome, lease) in outcomes.iter().zip([&lease1, &lease2]) {
        assert_eq!(outcome["leaseId"], lease.as_str());
        assert_eq!(outcome["result"], "settled");
        assert_eq!(raw(&outcome["paid"]), 30_000);
    }
    // Checked before sending: a receipt the market would skip is not sent, and says why.
    assert_eq!(outcomes[2]["result"], "unknown_lease");
    assert_eq!(outcomes[2]["sent"], false);
    assert_eq!(outcomes[2]["reason"], "no such lease");
    assert!(outcomes[2].get("paid").is_none(), "{}", outcomes[2]);

    // A batch in which every receipt would be refused is not sent either: each one's reason.
    let nonce = m.nonce(provider).await;
    let stale = m.run(provider, &["settle", path(&r1), path(&r2)]);
    assert!(
        stale.error().contains("none of the 2 receipts would pay anything, so nothing was sent"),
        "{}",
        stale.stderr
    );
    for name in ["r1.json", "r2.json"] {
        let reason = format!("{name} (lease {lease1}): already settled");
        assert!(stale.stderr.contains(&reason), "{reason}: {}", stale.stderr);
    }
    assert_eq!(m.nonce(provider).await, nonce, "nothing was sent");

    // Earnings: 99% of 110,000 raw.
    let claimed = m.run(provider, &["claim"]).json();
    assert_eq!(raw(&claimed["claimed"][0]["amount"]), 108_900);
    let status = m.run(provider, &["status"]).json();
    assert_eq!(raw(&usdc(&status)["balance"]), 5000 * USDC + 108_900);
    assert_eq!(raw(&usdc(&status)["claimable"]), 0);

    // Unstake: 21 days of unbonding before the withdrawal.
    let unstaked = m.run(provider, &["provider", "unstake", "1000 USDC"]).json();
    assert_eq!(raw(&unstaked["stake"]["thawing"]), 1000 * USDC);
    let early = m.run(provider, &["provider", "withdraw", "USDC"]);
    assert!(early.error().contains("still thawing"), "{}", early.stderr);
    m.advance(21 * 86_400).await;
    let withdrawn = m.run(provider, &["provider", "withdraw", "USDC"]).json();
    assert_eq!(raw(&withdrawn["withdrawn"]), 1000 * USDC);
    let status = m.run(provider, &["status"]).json();
    assert_eq!(raw(&usdc(&status)["balance"]), 6000 * USDC + 108_900);
    assert_eq!(raw(&usdc(&status)["stake"]["staked"]), 4000 * USDC);
    assert_eq!(raw(&usdc(&status)["stake"]["thawing"]), 0);
}

#[tokio::test]
async fn a_tenant_lives_its_whole_life_by_hand() {
    let m = Market::deploy().await;
    let (provider, tenant, signer) = (1, 4, 6);
    let offer = m.provider_with_offer(provider, "1000 USDC");

    m.run(tenant, &["token", "mint", "1000 USDC"]).json();
    let opened = m.run(tenant, &["lease", "open", &offer, "--duration", "7d", "--deposit", "50 USDC"]).json();
    assert_eq!(opened["depositMethod"], "permit");
    assert_eq!(raw(&opened["deposit"]), 50 * USDC);
    let lease = opened["leaseId"].as_str().unwrap().to_string();
    let status = m.run(tenant, &["status"]).json();
    assert_eq!(raw(&usdc(&status)["balance"]), 950 * USDC);

    let signer_address = m.address(signer).to_string();
    let provider_address = m.address(provider).to_string();
    let before = m.now().await;
    let authorized = m
        .run(
            tenant,
            &[
                "signer",
                "authorize",
                &signer_address,
                "--provider",
                &provider_address,
                "--cap",
                "50 USDC",
                "--expires",
                "30d",
            ],
        )
        .json();
    assert_eq!(raw(&authorized["cap"]), 50 * USDC);
    // 30 days from the chain's time when the command ran (a block may have passed since).
    let expires_at = authorized["expiresAt"].as_u64().unwrap();
    assert!((before + 30 * 86_400..=m.now().await + 30 * 86_400).contains(&expires_at), "{expires_at}");

    // The session signer signs to stdout; the provider settles it.
    m.advance(1000).await;
    let signed = m.run(signer, &["receipt", "sign", "--lease", &lease, "--amount", "0.05 USDC"]).json();
    assert_eq!(signed["signer"], signer_address.to_lowercase());
    assert_eq!(signed["cumulativeAmount"], "50000");
    let file = m.dir.join("receipt.json");
    std::fs::write(&file, signed.to_string()).unwrap();
    m.run(provider, &["settle", path(&file)]).json();
    // The signer's cap and spending in the token of the tenant's leases, as it was authorized.
    let signer_shown = m.run_text(tenant, &["signer", "show", &signer_address, "--provider", &provider_address]);
    assert!(signer_shown.stdout.contains("cap 50 USDC, spent 0.05 USDC, left 49.95 USDC"), "{}", signer_shown.stdout);
    let signer_json = m.run(tenant, &["signer", "show", &signer_address, "--provider", &provider_address]).json();
    assert_eq!((raw(&signer_json["spent"]), signer_json["spent"]["symbol"].as_str()), (50_000, Some("USDC")));

    // 10.48 USDC more would pay for the whole 7 days.
    let topped = m.run(tenant, &["lease", "top-up", &lease, "10 USDC"]).json();
    assert_eq!(raw(&topped["deposit"]), 60 * USDC);
    let shown = m.run(tenant, &["lease", "show", &lease]).json();
    assert_eq!(shown["status"], "running");
    assert_eq!(raw(&shown["settled"]), 50_000);
    assert_eq!(raw(&shown["escrow"]), 60 * USDC - 50_000);
    assert!(shown["notice"].is_null(), "{shown}");
    let listed = m.run(tenant, &["lease", "list"]).json();
    assert_eq!(listed["leases"][0]["leaseId"], lease.as_str());
    assert_eq!(listed["leases"][0]["role"], "tenant");

    // A dispute, upheld by the lease's arbiter (anvil account 7): half the 720,000 bond slashed,
    // 10% of that to the protocol, and the 72,000 dispute bond back.
    let disputed = m.run(tenant, &["dispute", "open", &lease, "--evidence", "ipfs://evidence"]).json();
    assert_eq!(raw(&disputed["bond"]), 72_000);
    let ruled = m.run(7, &["dispute", "rule", &lease, "--slash-bps", "5000"]).json();
    assert_eq!(ruled["upheld"], true);
    assert_eq!(m.run(tenant, &["dispute", "show", &lease]).json()["status"], "upheld");

    // Notice, then the settlement window, then the refund.
    let closed = m.run(tenant, &["lease", "close", &lease]).json();
    assert_eq!(closed["endsAt"].as_u64().unwrap(), m.now().await + 3600);
    // The lease still runs, but says that it ends, since when and by whom.
    let noticed = m.run(tenant, &["lease", "show", &lease]).json();
    assert_eq!(noticed["status"], "notice given");
    assert_eq!(noticed["notice"]["by"], m.address(tenant).to_string().to_lowercase());
    assert_eq!(noticed["notice"]["role"], "tenant");
    assert_eq!(noticed["notice"]["endsAt"], closed["endsAt"]);
    let noticed = m.run_text(tenant, &["lease", "show", &lease]);
    let said = format!("lease {lease}: notice given by the tenant {}: ends ", m.address(tenant));
    assert!(noticed.stdout.contains(&said) && noticed.stdout.contains("(in 1h)"), "{}", noticed.stdout);
    let early = m.run(tenant, &["lease", "finalize", &lease]);
    assert!(early.error().contains("settlement window is open"), "{}", early.stderr);
    m.advance(3600 + 3600).await;
    let finalized = m.run(tenant, &["lease", "finalize", &lease]).json();
    assert_eq!(raw(&finalized["refund"]), 60 * USDC - 50_000);
    assert_eq!(raw(&finalized["bondReleased"]), 360_000);
    let claimed = m.run(tenant, &["claim", "USDC"]).json();
    assert_eq!(raw(&claimed["claimed"][0]["amount"]), 60 * USDC - 50_000 + 324_000 + 72_000);
    let status = m.run(tenant, &["status"]).json();
    assert_eq!(raw(&usdc(&status)["balance"]), 1000 * USDC - 50_000 + 324_000);
    assert_eq!(raw(&usdc(&status)["claimable"]), 0);
}

#[test]
fn an_unreachable_node_and_a_malformed_config_say_what_to_do() {
    let scratch = temp_dir();
    let dir = scratch.path().to_path_buf();
    let down = openlease(&dir, &[], &["--rpc-url", "http://127.0.0.1:1", "lease", "show", "1"]);
    assert!(down.error().contains("cannot reach the node at http://127.0.0.1:1"), "{}", down.stderr);
    assert!(down.stderr.contains("make devnet"), "{}", down.stderr);
    let json = openlease(&dir, &[], &["--json", "--rpc-url", "http://127.0.0.1:1", "lease", "show", "1"]);
    let error: Value = serde_json::from_str(json.error()).expect("errors are JSON with --json");
    assert!(error["error"].as_str().unwrap().contains("cannot reach the node"));
    assert!(error["hint"].as_str().unwrap().contains("make devnet"));

    // ./openlease.toml is read by default; each mistake names the file and the key.
    std::fs::write(dir.join("openlease.toml"), "rpc_url = \"http://127.0.0.1:1\"\nchain_id = \"devnet\"\n").unwrap();
    let wrong_type = openlease(&dir, &[], &["status"]);
    assert!(wrong_type.error().contains("openlease.toml: key `chain_id` must be an integer"), "{}", wrong_type.stderr);
    let config = dir.join("other.toml");
    std::fs::write(&config, "rpc-url = \"http://127.0.0.1:1\"\n").unwrap();
    let unknown = openlease(&dir, &[], &["--config", path(&config), "status"]);
    assert!(unknown.error().contains("other.toml: unknown key `rpc-url`"), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("rpc_url"), "the hint lists the keys: {}", unknown.stderr);

    // A key that is not one is refused without being echoed.
    let secret = "0xnot-a-key-but-secret";
    std::fs::remove_file(dir.join("openlease.toml")).unwrap();
    let bad_key = openlease(&dir, &[("OPENLEASE_PRIVATE_KEY", secret)], &["--rpc-url", "http://127.0.0.1:1", "claim"]);
    assert!(bad_key.error().contains("not a 32-byte hex key"), "{}", bad_key.stderr);
    assert!(!bad_key.stderr.contains(secret));

    // A hosted node's URL carries its API key: errors show scheme://host:port only, though
    // the transport's own message repeats the whole URL.
    let keyed = "http://user:hunter2@127.0.0.1:1/v2/APIKEY0123";
    for json in [false, true] {
        let mut args = vec!["--rpc-url", keyed, "lease", "show", "1"];
        if json {
            args.insert(0, "--json");
        }
        let down = openlease(&dir, &[], &args);
        assert!(down.error().contains("cannot reach the node at http://127.0.0.1:1"), "{}", down.stderr);
        for secret in ["APIKEY0123", "hunter2", "user:"] {
            assert!(!down.stderr.contains(secret), "{secret} leaked: {}", down.stderr);
        }
    }

    // A zero slash would reject: refused before anything is sent.
    let zero = openlease(&dir, &[], &["--rpc-url", "http://127.0.0.1:1", "dispute", "rule", "1", "--slash-bps", "0"]);
    assert!(zero.error().contains("--slash-bps 0 would reject the dispute"), "{}", zero.stderr);
    assert!(zero.stderr.contains("use --reject"), "{}", zero.stderr);

    // A negative amount is refused as one, not taken for a flag.
    let down = ["--rpc-url", "http://127.0.0.1:1"];
    for json in [false, true] {
        let mut args = vec!["lease", "top-up", "1", "-5"];
        if json {
            args.insert(0, "--json");
        }
        args.extend_from_slice(&down);
        let negative = openlease(&dir, &[], &args);
        assert!(negative.error().contains("`-5`: amounts cannot be negative"), "{}", negative.stderr);
        assert!(!negative.stderr.contains("-- -5"), "{}", negative.stderr);
    }
    let deposit = openlease(&dir, &[], &["lease", "open", "1", "--duration", "1d", "--deposit", "-5 USDC"]);
    assert!(deposit.error().contains("amounts cannot be negative"), "{}", deposit.stderr);

    // A config file that cannot be read is named with the fix for what chose it: the default
    // ./openlease.toml is not a --config or OPENLEASE_CONFIG mistake.
    std::fs::write(dir.join("openlease.toml"), [0xff, 0xfe, 0x00]).unwrap();
    let unreadable = openlease(&dir, &[], &["status"]);
    assert!(
        unreadable
            .error()
            .contains("cannot read the config file ./openlease.toml, read by default from the current directory"),
        "{}",
        unreadable.stderr
    );
    assert!(
        unreadable.stderr.contains("fix or remove ./openlease.toml, or pass --config PATH"),
        "{}",
        unreadable.stderr
    );
    assert!(!unreadable.stderr.contains("OPENLEASE_CONFIG"), "{}", unreadable.stderr);
    std::fs::remove_file(dir.join("openlease.toml")).unwrap();
    let flag = openlease(&dir, &[], &["--config", "missing.toml", "status"]);
    assert!(flag.error().contains("cannot read the config file missing.toml (given by --config)"), "{}", flag.stderr);
    assert!(flag.stderr.contains("fix the path given to --config"), "{}", flag.stderr);
    let env = openlease(&dir, &[("OPENLEASE_CONFIG", "missing.toml")], &["status"]);
    assert!(env.error().contains("(given by OPENLEASE_CONFIG)"), "{}", env.stderr);
    assert!(env.stderr.contains("fix OPENLEASE_CONFIG"), "{}", env.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A failed-over lease says where its tenant went and why it still runs: it keeps only what
/// the service before the failover can still claim, until its notice ends.
#[tokio::test]
async fn a_failed_over_lease_says_where_it_went() {
    let m = Market::deploy().await;
    let (first, second, tenant) = (1, 2, 4);
    let (offer1, offer2) = (m.provider_with_offer(first, "1000 USDC"), m.provider_with_offer(second, "1000 USDC"));
    m.run(tenant, &["token", "mint", "100 USDC"]).json();
    let opened = m.run(tenant, &["lease", "open", &offer1, "--duration", "7d", "--deposit", "50 USDC"]).json();
    let old = opened["leaseId"].as_str().unwrap().to_string();
    m.advance(600).await;

    let moved = m.run(tenant, &["lease", "failover", &old, "--to", &offer2, "--duration", "1d"]).json();
    let new = moved["newLeaseId"].as_str().unwrap().to_string();
    assert_eq!(raw(&moved["moved"]) + raw(&moved["kept"]), 50 * USDC);

    let shown = m.run(tenant, &["lease", "show", &old]).json();
    assert_eq!(shown["failedOverTo"]["leaseId"], new.as_str());
    assert_eq!(shown["failedOverTo"]["moved"], moved["moved"]);
    assert_eq!(shown["failedOverTo"]["kept"], moved["kept"]);
    assert_eq!(raw(&shown["deposit"]), raw(&moved["kept"]));
    assert_eq!(shown["status"], "notice given");
    assert_eq!(shown["failedOverFrom"], Value::Null);
    let text = m.run_text(tenant, &["lease", "show", &old]).stdout;
    assert!(
        text.contains(&format!("lease {old}: failed over to lease {new}: runs to the end of its notice "))
            && text.contains("(in 1h) only for what was served before")
            && text.contains(&format!(
                "failed over to lease {new}: {} USDC moved to it, {} USDC kept here",
                moved["moved"]["units"].as_str().unwrap(),
                moved["kept"]["units"].as_str().unwrap()
            )),
        "{text}"
    );

    let successor = m.run(tenant, &["lease", "show", &new]).json();
    assert_eq!(successor["failedOverFrom"], old.as_str());
    assert_eq!(successor["failedOverTo"], Value::Null);
    assert_eq!(successor["status"], "running");
    assert!(
        m.run_text(tenant, &["lease", "show", &new]).stdout.contains(&format!("opened by a failover from lease {old}"))
    );

    // Once its notice has run out the old lease reads as ended, and still says where it went.
    m.advance(3600).await;
    let ended = m.run(tenant, &["lease", "show", &old]).json();
    assert_eq!(ended["status"], "ended, settlement window open");
    assert_eq!(ended["failedOverTo"]["leaseId"], new.as_str());
}

/// A token's decimals are the token's own: a manifest that states others (stale, or edited) is
/// refused with what to do, not read as amounts off by powers of ten.
#[tokio::test]
async fn a_manifest_with_other_decimals_than_the_token_is_refused() {
    let m = Market::deploy().await;
    let (provider, tenant) = (1, 4);
    let offer = m.provider_with_offer(provider, "1000 USDC");
    m.run(tenant, &["token", "mint", "100 USDC"]).json();
    let lease = m.run(tenant, &["lease", "open", &offer, "--duration", "1d", "--deposit", "8 USDC"]).json();
    let lease = lease["leaseId"].as_str().unwrap().to_string();
    assert_eq!(raw(&m.run(tenant, &["lease", "show", &lease]).json()["deposit"]), 8 * USDC);

    let file = m.dir.join("deployments/31337.json");
    let mut manifest: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let usdc = manifest["stablecoins"].as_array_mut().unwrap().iter_mut().find(|s| s["symbol"] == "USDC").unwrap();
    usdc["decimals"] = 18.into();
    std::fs::write(&file, manifest.to_string()).unwrap();
    let refused = m.run(tenant, &["lease", "show", &lease]);
    assert!(refused.error().contains("has 18 decimals, but the token says 6"), "{}", refused.stderr);
    assert!(refused.stderr.contains("use the market's current one"), "{}", refused.stderr);
}

#[tokio::test]
async fn each_mistake_is_named_with_what_to_do() {
    let m = Market::deploy().await;
    let (provider, tenant, signer, stranger) = (1, 4, 6, 8);

    let unknown = m.run(tenant, &["lease", "show", "99"]);
    assert!(unknown.error().contains("lease 99 does not exist"), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("lease list"), "{}", unknown.stderr);
    let unregistered = m.run(
        stranger,
        &["offer", "publish", "--price", "1 USDC", "--min-duration", "1m", "--max-duration", "1d", "--notice", "1m"],
    );
    assert!(unregistered.error().contains("is not a registered provider"), "{}", unregistered.stderr);
    assert!(unregistered.stderr.contains("provider register"), "{}", unregistered.stderr);

    // Amounts: a number, a token of this market, the lease's token.
    let not_a_number = m.run(provider, &["provider", "stake", "ten USDC"]);
    assert!(not_a_number.error().contains("has no number"), "{}", not_a_number.stderr);
    let unknown_token = m.run(provider, &["token", "mint", "5 EUR"]);
    assert!(unknown_token.error().contains("`EUR` is not a stablecoin of this market"), "{}", unknown_token.stderr);
    assert!(unknown_token.stderr.contains("USDC, DAI, USDT"), "{}", unknown_token.stderr);
    let no_token = m.run(provider, &["provider", "stake", "10"]);
    assert!(no_token.error().contains("say which token"), "{}", no_token.stderr);
    let too_precise = m.run(provider, &["provider", "stake", "0.0000001 USDC"]);
    assert!(too_precise.error().contains("at most 6 decimals"), "{}", too_precise.stderr);

    let offer = m.provider_with_offer(provider, "1000 USDC");
    let broke = m.run(stranger, &["lease", "open", &offer, "--duration", "1d", "--deposit", "5 USDC"]);
    assert!(broke.error().contains("insufficient balance: you hold 0 USDC, 5 USDC needed"), "{}", broke.stderr);
    assert!(broke.stderr.contains("token mint"), "{}", broke.stderr);
    m.run(tenant, &["token", "mint", "1000 USDC"]).json();

    // The market's reverts, in the units of the offer's token.
    let open = |offer: &str, extra: &[&str]| {
        let mut args = vec!["lease", "open", offer, "--duration", "1d"];
        args.extend_from_slice(extra);
        m.run(tenant, &args)
    };
    let small = open(&offer, &["--deposit", "0.001 USDC"]);
    assert!(small.error().contains("a deposit of 0.001 USDC is below the 0.006 USDC required"), "{}", small.stderr);
    let pricey = open(&offer, &["--deposit", "5 USDC", "--max-price", "0.18 USDC/h"]);
    assert!(
        pricey.error().contains("costs 0.0001 USDC per second, above --max-price (0.00005 USDC per second)"),
        "{}",
        pricey.stderr
    );
    let free = m.run(
        provider,
        &["offer", "publish", "--price", "0 USDC", "--min-duration", "1m", "--max-duration", "1d", "--notice", "1h"],
    );
    assert!(
        free.error().contains("invalid offer terms: price 0 USDC per second, duration 1m to 1d, notice 1h, capacity 1"),
        "{}",
        free.stderr
    );
    // No bond-free lease: a notice period under an hour is refused.
    let unbonded = m.run(
        provider,
        &["offer", "publish", "--price", "1 USDC", "--min-duration", "1m", "--max-duration", "1d", "--notice", "1m"],
    );
    assert!(unbonded.error().contains("notice 1m"), "{}", unbonded.stderr);
    assert!(unbonded.stderr.contains("at least 1 h"), "{}", unbonded.stderr);
    // A lease's bond is 0.72 USDC (2 x 100 raw/s x 3,600 s): more than a 0.1 USDC stake.
    let thin = m.provider_with_offer(2, "0.1 USDC");
    let unbacked = open(&thin, &["--deposit", "5 USDC"]);
    assert!(unbacked.error().contains("not enough free stake: 0.1 USDC free, 0.72 USDC needed"), "{}", unbacked.stderr);

    let lease = m.run(tenant, &["lease", "open", &offer, "--duration", "7d", "--deposit", "50 USDC"]).json();
    let lease = lease["leaseId"].as_str().unwrap().to_string();

    // A manifest that lacks the lease's token: its decimals come from the token, so a bare `5`
    // is 5 USDC, not 5 raw units.
    let mut stale = m.manifest();
    stale["stablecoins"].as_array_mut().unwrap().retain(|coin| coin["symbol"] != "USDC");
    std::fs::write(m.dir.join("stale.json"), stale.to_string()).unwrap();
    let topped = m.run(tenant, &["--manifest", "stale.json", "lease", "top-up", &lease, "5"]).json();
    assert_eq!(raw(&topped["toppedUp"]), 5 * USDC);
    assert_eq!(topped["toppedUp"]["symbol"], "USDC");
    assert_eq!(raw(&topped["deposit"]), 55 * USDC);
    let no_dispute = m.run(7, &["dispute", "resolve", &lease, "--reject"]);
    assert!(no_dispute.error().contains(&format!("lease {lease} has no open dispute")), "{}", no_dispute.stderr);
    m.run(tenant, &["dispute", "open", &lease, "--evidence", "ipfs://evidence"]).json();
    let not_arbiter = m.run(tenant, &["dispute", "resolve", &lease, "--reject"]);
    assert!(not_arbiter.error().contains(&format!("is not the arbiter of lease {lease}")), "{}", not_arbiter.stderr);
    let wrong_symbol = m.run(tenant, &["lease", "top-up", &lease, "5 DAI"]);
    assert!(wrong_symbol.error().contains("is paid in USDC, not DAI"), "{}", wrong_symbol.stderr);

    // Receipts: each way one is refused.
    let signer_address = m.address(signer).to_string();
    let provider_address = m.address(provider).to_string();
    m.run(
        tenant,
        &[
            "signer",
            "authorize",
            &signer_address,
            "--provider",
            &provider_address,
            "--cap",
            "1 USDC",
            "--expires",
            "1h",
        ],
    )
    .json();
    let sign = |name: &str, amount: &str| {
        let file = m.dir.join(name);
        m.run(signer, &["receipt", "sign", "--lease", &lease, "--amount", amount, "--out", path(&file)]).json();
        file
    };
    let good = sign("good.json", "0.5 USDC");
    m.run(provider, &["receipt", "verify", path(&good)]).json();
    let edit = |name: &str, key: &str, value: Value| {
        let mut receipt: Value = serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
        receipt[key] = value;
        let file = m.dir.join(name);
        std::fs::write(&file, receipt.to_string()).unwrap();
        file
    };
    let verify = |file: &std::path::Path| m.run(provider, &["receipt", "verify", path(file)]);
    let tampered = verify(&edit("tampered.json", "cumulativeAmount", "900000".into()));
    assert!(tampered.error().contains("the signature recovers to"), "{}", tampered.stderr);
    // Several files: each reported, valid or refused with its reason; then the refusal fails it.
    let both = m.run(provider, &["receipt", "verify", path(&good), path(&m.dir.join("tampered.json"))]);
    assert!(
        both.error().contains("1 of 2 receipts refused (") && both.stderr.contains("tampered.json"),
        "{}",
        both.stderr
    );
    let report: Value = serde_json::from_str(&both.stdout).expect("the report is on stdout");
    assert_eq!(raw(&report["valid"][0]["cumulativeAmount"]), 500_000, "{report}");
    assert!(report["valid"][0]["file"].as_str().unwrap().ends_with("good.json"), "{report}");
    assert!(report["refused"][0]["file"].as_str().unwrap().ends_with("tampered.json"), "{report}");
    assert!(report["refused"][0]["error"].as_str().unwrap().contains("the signature recovers to"), "{report}");
    let other_chain = verify(&edit("chain.json", "chainId", 1.into()));
    assert!(
        other_chain.error().contains("signed for chain 1, but this market is on chain 31337"),
        "{}",
        other_chain.stderr
    );
    let other_market = verify(&edit("market.json", "market", m.address(9).to_string().into()));
    assert!(other_market.error().contains("signed for the market at"), "{}", other_market.stderr);
    let other_lease = verify(&edit("lease.json", "leaseId", "42".into()));
    assert!(other_lease.error().contains("lease 42 does not exist"), "{}", other_lease.stderr);
    let over_cap = verify(&sign("over.json", "2 USDC"));
    assert!(over_cap.error().contains("would attest 2 USDC in total, over its cap of 1 USDC"), "{}", over_cap.stderr);
    let garbage = verify(&m.dir.join("deployments/31337.json"));
    assert!(garbage.error().contains("is not a signed receipt"), "{}", garbage.stderr);
    // A key the market would not pay for still signs, but says so: on stderr, and in the JSON.
    let sign_as = |index: usize, name: &str| {
        let file = m.dir.join(name);
        m.run(index, &["receipt", "sign", "--lease", &lease, "--amount", "0.6 USDC", "--out", path(&file)])
    };
    let own = sign_as(tenant, "own.json");
    assert!(own.json()["warning"].is_null() && own.stderr.is_empty(), "the tenant's own: {}", own.stderr);
    let stranger_signed = sign_as(stranger, "stranger.json");
    let warning = stranger_signed.json()["warning"].as_str().unwrap().to_string();
    assert!(warning.contains(": not authorized; the market will not pay this receipt"), "{warning}");
    assert!(stranger_signed.stderr.contains("warning: signer"), "{}", stranger_signed.stderr);
    m.advance(3601).await;
    // Signed for service before the signer expired: still what the market pays.
    m.run(provider, &["receipt", "verify", path(&good)]).json();
    let late = sign_as(signer, "late.json");
    assert!(late.json()["warning"].as_str().unwrap().contains(": expired "), "{}", late.stderr);
    let expired = verify(&m.dir.join("late.json"));
    assert!(expired.error().contains("expired"), "{}", expired.stderr);
    m.run(
        tenant,
        &[
            "signer",
            "authorize",
            &signer_address,
            "--provider",
            &provider_address,
            "--cap",
            "1 USDC",
            "--expires",
            "1h",
        ],
    )
    .json();
    m.run(provider, &["receipt", "verify", path(&good)]).json();
    let revoked = m.run(tenant, &["signer", "revoke", &signer_address, "--provider", &provider_address]).json();
    assert!(revoked["expiresAt"].as_u64().unwrap() > 0, "{revoked}");
    let after_revoke = sign_as(signer, "revoked.json");
    assert!(after_revoke.json()["warning"].as_str().unwrap().contains(": revoked;"), "{}", after_revoke.stderr);
    let refused = verify(&m.dir.join("revoked.json"));
    assert!(refused.error().contains("revoked"), "{}", refused.stderr);
    let unpaid = m.run(provider, &["settle", path(&m.dir.join("revoked.json"))]);
    assert!(unpaid.error().contains("the tenant revoked the signer"), "{}", unpaid.stderr);
    // Service delivered before the revocation cannot be repudiated: its receipt still settles.
    m.run(provider, &["receipt", "verify", path(&good)]).json();
    m.run(provider, &["settle", path(&good)]).json();

    // A keystore from ./openlease.toml, its password from a file next to it.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/anvil-account-9.keystore.json");
    std::fs::copy(fixture, m.dir.join("key.json")).unwrap();
    std::fs::write(m.dir.join("password"), "openlease\n").unwrap();
    let config = "deployments = \"deployments\"\nkeystore = \"key.json\"\npassword_file = \"password\"\n";
    std::fs::write(m.dir.join("openlease.toml"), config).unwrap();
    let rpc = [("OPENLEASE_RPC_URL", m.anvil.endpoint())];
    let rpc: Vec<(&str, &str)> = rpc.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let minted = openlease(&m.dir, &rpc, &["--json", "token", "mint", "7 USDC"]).json();
    assert_eq!(minted["to"], m.address(9).to_string().to_lowercase());
    // ./openlease.toml chose the market: a command that sends says so.
    assert_eq!(minted["using"]["configFile"], "./openlease.toml");
    let text = openlease(&m.dir, &rpc, &["token", "mint", "1 USDC"]);
    assert!(text.success, "{}", text.stderr);
    let using = format!("using ./openlease.toml: market {} on chain 31337", m.market());
    assert!(text.stderr.to_lowercase().contains(&using), "{}", text.stderr);
    std::fs::write(m.dir.join("password"), "wrong").unwrap();
    let wrong = openlease(&m.dir, &rpc, &["token", "mint", "7 USDC"]);
    assert!(wrong.error().contains("cannot open keystore"), "{}", wrong.stderr);
}

#[tokio::test]
async fn a_signer_cap_counts_in_the_tokens_of_the_open_leases() {
    let m = Market::deploy().await;
    let (provider, tenant, signer) = (1, 4, 6);
    let usdc_offer = m.provider_with_offer(provider, "1000 USDC");
    let signer_address = m.address(signer).to_string();
    let provider_address = m.address(provider).to_string();
    let authorize = |cap: &str| {
        m.run(
            tenant,
            &[
                "signer",
                "authorize",
                &signer_address,
                "--provider",
                &provider_address,
                "--cap",
                cap,
                "--expires",
                "30d",
            ],
        )
    };

    // More than a uint96 holds is refused, not cut down to it.
    let huge = authorize("80000000000 DAI");
    assert!(huge.error().contains("more than the market can store"), "{}", huge.stderr);
    assert!(huge.stderr.contains("at most 79228162514.264337593543950335 DAI"), "{}", huge.stderr);

    // The cap is raw units of each lease's token: 50 DAI would be 50 trillion USDC on a USDC lease.
    m.run(tenant, &["token", "mint", "1000 USDC"]).json();
    m.run(tenant, &["lease", "open", &usdc_offer, "--duration", "7d", "--deposit", "50 USDC"]).json();
    let dai = authorize("50 DAI");
    assert!(dai.error().contains("would be 50000000000000 USDC on your open lease 1"), "{}", dai.stderr);
    assert!(dai.stderr.contains("use one session signer per stablecoin"), "{}", dai.stderr);

    // A USDT lease (no permit: the SDK approves, then opens): the same 6 decimals, so one cap
    // covers both, and says so in each token.
    m.run(provider, &["token", "mint", "1000 USDT"]).json();
    m.run(provider, &["provider", "stake", "100 USDT"]).json();
    let publish = [
        "offer",
        "publish",
        "--price",
        "0.36 USDT/h",
        "--min-duration",
        "1m",
        "--max-duration",
        "30d",
        "--notice",
        "1h",
    ];
    let usdt_offer = m.run(provider, &publish).json()["offerId"].as_str().unwrap().to_string();
    m.run(tenant, &["token", "mint", "100 USDT"]).json();
    let opened = m.run(tenant, &["lease", "open", &usdt_offer, "--duration", "1d", "--deposit", "5 USDT"]).json();
    assert_eq!(opened["depositMethod"], "allowance");
    let authorized = authorize("50 USDC").json();
    let per_token: Vec<(String, u128)> = authorized["capPerToken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["symbol"].as_str().unwrap().to_string(), raw(a)))
        .collect();
    assert_eq!(per_token, [("USDC".to_string(), 50 * USDC), ("USDT".to_string(), 50 * USDC)]);

    // What a transaction goes to: in the JSON, or one line on stderr; reads say nothing.
    assert_eq!(authorized["using"]["market"].as_str().unwrap().to_lowercase(), m.market());
    assert_eq!(authorized["using"]["chainId"], 31337);
    assert!(authorized["using"]["configFile"].is_null(), "{authorized}");
    let text = m.run_text(
        tenant,
        &[
            "signer",
            "authorize",
            &signer_address,
            "--provider",
            &provider_address,
            "--cap",
            "60 USDT",
            "--expires",
            "1d",
        ],
    );
    assert!(text.success, "{}", text.stderr);
    assert!(text.stdout.contains("cap 60 USDT (also 60 USDC on your USDC leases)"), "{}", text.stdout);
    let using = format!("using no config file: market {} on chain 31337", m.market());
    assert_eq!(text.stderr.trim().to_lowercase(), using, "one line: {}", text.stderr);
    let read = m.run_text(tenant, &["signer", "show", &signer_address, "--provider", &provider_address]);
    assert!(read.success && read.stderr.is_empty(), "{}", read.stderr);
    // In the tokens of the tenant's leases: the same raw cap in each.
    assert!(read.stdout.contains("cap 60 USDC or 60 USDT, spent 0 USDC or 0 USDT"), "{}", read.stdout);
    // A cap never decreases: a lower one would void receipts for service already delivered.
    let lower = authorize("10 USDC");
    assert!(lower.error().contains("cannot be lowered to 10 USDC"), "{}", lower.stderr);
    assert!(lower.stderr.contains("revoke the signer"), "{}", lower.stderr);
    let in_dai =
        m.run_text(tenant, &["signer", "show", &signer_address, "--provider", &provider_address, "--token", "DAI"]);
    assert!(in_dai.stdout.contains("cap 0.00000000006 DAI"), "{}", in_dai.stdout);

    // An account without ETH: the node's refusal, not "cannot reach the node".
    let broke = "0x1111111111111111111111111111111111111111111111111111111111111111";
    let env = [("OPENLEASE_RPC_URL", m.anvil.endpoint()), ("OPENLEASE_PRIVATE_KEY", broke.to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let no_gas = openlease(&m.dir, &env, &["token", "mint", "1 USDC"]);
    assert!(no_gas.error().to_lowercase().contains("refused the request: insufficient funds"), "{}", no_gas.stderr);
    assert!(no_gas.stderr.contains("too little ETH"), "{}", no_gas.stderr);
    assert!(!no_gas.stderr.contains("cannot reach"), "{}", no_gas.stderr);
}

#[tokio::test]
async fn a_deposit_or_top_up_the_lease_cannot_use_is_refused() {
    let m = Market::deploy().await;
    let (provider, tenant) = (1, 4);
    let offer = m.provider_with_offer(provider, "1000 USDC");
    m.run(tenant, &["token", "mint", "100 USDC"]).json();
    let open = |deposit: &str| m.run(tenant, &["lease", "open", &offer, "--duration", "1d", "--deposit", deposit]);

    // A day at 0.0001 USDC per second is 8.64 USDC: a 20 USDC deposit is refused, nothing sent.
    let nonce = m.nonce(tenant).await;
    let over = open("20 USDC");
    let said = format!(
        "a deposit of 20 USDC is more than a 1d lease of offer {offer} can ever use: 1d at 0.0001 USDC per second \
         is 8.64 USDC in all; the other 11.36 USDC would wait in escrow until the lease is finalized"
    );
    assert!(over.error().contains(&said), "{}", over.stderr);
    assert!(over.stderr.contains("deposit at most 8.64 USDC"), "{}", over.stderr);
    assert_eq!(m.nonce(tenant).await, nonce);

    // The whole term: nothing a top-up could add.
    let full = open("8.64 USDC").json()["leaseId"].as_str().unwrap().to_string();
    let nothing = m.run(tenant, &["lease", "top-up", &full, "1 USDC"]);
    assert!(
        nothing.error().contains(&format!("lease {full}'s deposit of 8.64 USDC already pays for its whole term")),
        "{}",
        nothing.stderr
    );
    assert!(nothing.stderr.contains("would extend nothing"), "{}", nothing.stderr);

    // Part of it: a top-up up to the rest, not beyond.
    let part = open("5 USDC").json()["leaseId"].as_str().unwrap().to_string();
    let nonce = m.nonce(tenant).await;
    let beyond = m.run(tenant, &["lease", "top-up", &part, "5 USDC"]);
    let said = format!("a top-up of 5 USDC is more than lease {part} can use: 3.64 USDC more pays for its whole term");
    assert!(beyond.error().contains(&said), "{}", beyond.stderr);
    assert!(beyond.stderr.contains("top up at most 3.64 USDC"), "{}", beyond.stderr);
    assert_eq!(m.nonce(tenant).await, nonce);
    let topped = m.run(tenant, &["lease", "top-up", &part, "3.64 USDC"]).json();
    assert_eq!(raw(&topped["deposit"]), 8_640_000);
    let negative = m.run(tenant, &["lease", "top-up", &part, "-5"]);
    assert!(negative.error().contains("amounts cannot be negative"), "{}", negative.stderr);
}

#[tokio::test]
async fn a_devnet_funds_any_address_and_moves_its_clock() {
    let m = Market::deploy().await;
    let (provider, tenant) = (1, 4);

    // A fresh address, funded without its key (or any key).
    let fresh = alloy::signers::local::PrivateKeySigner::random().address().to_string();
    let fund = ["--json", "devnet", "fund", &fresh, "--eth", "5", "--token", "1000 USDC", "--token", "3 DAI"];
    let funded = m.run_keyless(&m.dir, &fund).json();
    assert_eq!(raw(&funded["eth"]), 5_000_000_000_000_000_000);
    let status = m.run_keyless(&m.dir, &["--json", "status", &fresh]).json();
    assert_eq!(status["eth"], "5000000000000000000", "the mints' gas was given back: {status}");
    assert_eq!(raw(&usdc(&status)["balance"]), 1000 * USDC);
    let dai = status["tokens"].as_array().unwrap().iter().find(|t| t["symbol"] == "DAI").unwrap();
    assert_eq!(raw(&dai["balance"]), 3_000_000_000_000_000_000);
    let euro = m.run_keyless(&m.dir, &["devnet", "fund", &fresh, "--token", "5 EUR"]);
    assert!(euro.error().contains("`EUR` is not a stablecoin of this market"), "{}", euro.stderr);

    // The clock: a lease of an hour ends, its settlement window closes, stake thaws.
    let offer = m.provider_with_offer(provider, "1000 USDC");
    m.run(tenant, &["token", "mint", "1 USDC"]).json();
    let lease = m.run(tenant, &["lease", "open", &offer, "--duration", "1h", "--deposit", "0.36 USDC"]).json();
    let lease = lease["leaseId"].as_str().unwrap().to_string();
    m.run(provider, &["provider", "unstake", "1 USDC"]).json();
    let came_due = |moved: &serde_json::Value, what: &str| {
        moved["cameDue"].as_array().unwrap().iter().any(|d| d["what"] == what && d["leaseId"] == lease.as_str())
    };

    let before = m.now().await;
    let moved = m.run_keyless(&m.dir, &["--json", "devnet", "advance", "90m"]).json();
    assert_eq!(moved["before"], before);
    let after = moved["after"].as_u64().unwrap();
    assert!(after >= before + 5400, "{moved}");
    assert_eq!(m.now().await, after, "a block was mined at the new time");
    assert!(came_due(&moved, "leaseEnded"), "{moved}");
    assert!(!came_due(&moved, "settlementWindowClosed"), "{moved}");
    let moved = m.run_keyless(&m.dir, &["--json", "devnet", "advance", "1h"]).json();
    assert!(came_due(&moved, "settlementWindowClosed"), "{moved}");
    let text = m.run_keyless(&m.dir, &["devnet", "advance", "21d"]);
    assert!(text.success, "{}", text.stderr);
    // Wall time may add a second to the 21 days.
    assert!(text.stdout.contains("clock moved 21d"), "{}", text.stdout);
    let thawed = format!("provider {}'s 1 USDC finished thawing", m.address(provider));
    assert!(text.stdout.contains(&thawed), "{}", text.stdout);
    assert!(text.stdout.contains("openlease provider withdraw USDC"), "{}", text.stdout);

    // Run from below the directory that has the manifest: found; from elsewhere: where it looked.
    let deeper = m.dir.join("sub/deeper");
    std::fs::create_dir_all(&deeper).unwrap();
    m.run_keyless(&deeper, &["--json", "status", &fresh]).json();
    let elsewhere = temp_dir();
    let lost = m.run_keyless(elsewhere.path(), &["status", &fresh]);
    assert!(lost.error().contains("no deployment manifest for chain 31337"), "{}", lost.stderr);
    let looked = elsewhere.path().canonicalize().unwrap().join("deployments/31337.json");
    assert!(lost.stderr.contains(&looked.display().to_string()), "{}", lost.stderr);
    assert!(lost.stderr.contains("run openlease from the repository that deployed the market"), "{}", lost.stderr);
    assert!(!lost.stderr.contains("deploy first"), "{}", lost.stderr);
}

#[test]
fn a_new_key_lives_in_an_encrypted_keystore_never_overwritten() {
    let scratch = temp_dir();
    let dir = scratch.path();
    let password = [("OPENLEASE_KEYSTORE_PASSWORD", "correct horse")];
    let created = openlease(dir, &password, &["--json", "key", "new", "keys/tenant.json"]).json();
    let path = dir.join("keys/tenant.json");
    let signer = alloy::signers::local::PrivateKeySigner::decrypt_keystore(&path, "correct horse").unwrap();
    assert_eq!(created["address"].as_str().unwrap().to_lowercase(), signer.address().to_string().to_lowercase());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "readable by its owner alone"
        );
    }
    assert!(!std::fs::read_to_string(&path).unwrap().contains(&alloy::hex::encode(signer.to_bytes())), "encrypted");
    let again = openlease(dir, &password, &["key", "new", "keys/tenant.json"]);
    assert!(again.error().contains("never overwritten"), "{}", again.stderr);
    let unprotected = openlease(dir, &[], &["key", "new", "other.json"]);
    assert!(unprotected.error().contains("needs its password"), "{}", unprotected.stderr);
    assert!(!dir.join("other.json").exists());
}
