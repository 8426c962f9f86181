//! The devnet as a user runs it: it comes up, says when a port is taken, keeps its market going
//! through a reorg that drops its settlements and a jump of the chain's clock, and every signal
//! stops it with anvil and the indexer.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    providers::{Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::anvil::ReorgOptions,
};
use openlease_testkit::TempDir;

/// A port nobody listens on (the OS's pick, released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `openlease-devnet` running in a scratch directory, its output collected line by line.
struct Devnet {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    port: u16,
    api_port: u16,
    _dir: TempDir,
}

impl Devnet {
    fn start(port: u16, api_port: u16) -> Self {
        let dir = TempDir::new("devnet");
        let exe = PathBuf::from(env!("CARGO_BIN_EXE_openlease-devnet"));
        let indexer = exe.with_file_name("openlease-indexer");
        assert!(indexer.exists(), "the indexer binary {} is built by the workspace's tests", indexer.display());
        let root = openlease_testkit::repo_root();
        let mut child = Command::new(exe)
            .current_dir(dir.path())
            .args(["--port", &port.to_string(), "--receipt-interval", "1", "--fail-after", "8"])
            .args(["--gateway-port", "0"])
            .arg("--anvil")
            .arg(openlease_testkit::anvil_path())
            .arg("--config")
            .arg(root.join("deploy/config/devnet.toml"))
            .arg("--indexer")
            .arg(indexer)
            .args(["--indexer-listen", &format!("127.0.0.1:{api_port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the devnet starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Self { child, lines, port, api_port, _dir: dir }
    }

    /// Waits until a line after the first `from` contains `text`; its index.
    fn wait_for(&self, text: &str, from: usize, timeout: Duration) -> usize {
        let started = Instant::now();
        loop {
            if let Some(at) = self.lines.lock().unwrap().iter().skip(from).position(|l| l.contains(text)) {
                return from + at;
            }
            assert!(started.elapsed() < timeout, "no `{text}` within {timeout:?}:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn len(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; panics after `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < timeout, "the devnet did not stop:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// provider-3 of the devnet: anvil account 3.
const PROVIDER_2: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const PROVIDER_3: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";

#[tokio::test]
async fn the_market_survives_a_reorg_and_a_clock_jump_and_sigterm_stops_everything() {
    let (port, api_port) = (free_port(), free_port());
    let mut devnet = Devnet::start(port, api_port);
    devnet.wait_for("Openlease devnet is up", 0, Duration::from_secs(120));
    devnet.wait_for("settled", 0, Duration::from_secs(30));

    // The tenant session is served by the cheapest provider until its gateway dies, then by the
    // next one, every answer checked, nothing paid for the dead time.
    devnet.wait_for("session: served by provider-1", 0, Duration::from_secs(30));
    // A streamed answer comes through the gateway event by event, and checks out.
    let streamed = devnet.wait_for("session: streamed 4 events", 0, Duration::from_secs(60));
    let line = devnet.lines.lock().unwrap()[streamed].clone();
    assert!(line.contains("answer checked"), "{line}");
    let failed_over = devnet.wait_for("session: served by provider-2", 0, Duration::from_secs(60));
    let line = devnet.lines.lock().unwrap()[failed_over].clone();
    assert!(line.contains("answer checked") && line.contains("0 USDC for nothing"), "{line}");
    assert!(line.contains("last failover took"), "{line}");
    // Issue 21: tenant-3's checks catch provider-3 answering wrongly, and its offer's verifier
    // slashes the lease on chain without an arbiter.
    let caught = devnet.wait_for("checks: provider-3 answered wrongly", 0, Duration::from_secs(180));
    let line = devnet.lines.lock().unwrap()[caught].clone();
    assert!(line.contains("slashed on chain by its offer's verifier, no arbiter"), "{line}");
    assert!(line.contains("the session moved to provider-2"), "{line}");

    // The CLI runs a session of its own from the indexer's listings, on provider-3 picked by hand
    // (provider-2 is cheaper), pays only for what it was served, and gives notice at the end.
    let cli_path = PathBuf::from(env!("CARGO_BIN_EXE_openlease-devnet")).with_file_name("openlease");
    let cli = |args: &[&str], key: Option<&str>| {
        let mut command = Command::new(&cli_path);
        command.current_dir(devnet._dir.path()).env("OPENLEASE_RPC_URL", format!("http://127.0.0.1:{port}"));
        if let Some(key) = key {
            command.env("OPENLEASE_PRIVATE_KEY", key);
        }
        let output = command.args(args).output().expect("the CLI runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON")
    };
    let free = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"; // anvil account 9
    cli(&["--json", "devnet", "fund", "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720", "--token", "100 USDC"], None);
    let indexer = format!("http://127.0.0.1:{api_port}");
    // A session the CLI refuses, as the free account: what it said on stderr.
    let refused = |args: &[&str]| {
        let output = Command::new(&cli_path)
            .current_dir(devnet._dir.path())
            .env("OPENLEASE_RPC_URL", format!("http://127.0.0.1:{port}"))
            .env("OPENLEASE_PRIVATE_KEY", free)
            .args(["session", "run", "--indexer", &indexer, "--deposit", "1 USDC", "--budget", "1 USDC"])
            .args(args)
            .output()
            .expect("the CLI runs");
        assert!(!output.status.success(), "refused: {}", String::from_utf8_lossy(&output.stdout));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let report = cli(
        &["--json", "session", "run", "--indexer", &indexer, "--deposit", "1 USDC", "--budget", "1 USDC"]
            .into_iter()
            .chain(["--path", "/work/10", "--requests", "3", "--every", "1s"])
            .chain(["--provider", PROVIDER_3])
            .collect::<Vec<_>>(),
        Some(free),
    );
    let used = report["providers"].as_array().unwrap();
    assert_eq!(used.len(), 1, "{report}");
    assert_eq!(used[0]["provider"].as_str().unwrap().to_lowercase(), PROVIDER_3.to_lowercase(), "{report}");
    assert_eq!(used[0]["answered"], 3, "{report}");
    assert_eq!(report["paidForNothing"]["raw"], "0", "{report}");
    // Checks from the command line: every answer re-run on a referee of the tenant's own (on a
    // thread of its own: the CLI is waited for on this one), and an honest provider's all agree.
    let referee = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let referee_url = format!("http://{}", referee.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            referee.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(referee).unwrap();
            axum::serve(listener, openlease_gateway::workload::router()).await.unwrap();
        });
    });
    let checked = cli(
        &["--json", "session", "run", "--indexer", &indexer, "--deposit", "1 USDC", "--budget", "1 USDC"]
            .into_iter()
            .chain(["--path", "/work/10", "--requests", "3", "--every", "1s", "--provider", PROVIDER_2])
            .chain(["--check-share", "100%", "--referee", &referee_url])
            .collect::<Vec<_>>(),
        Some(free),
    );
    let checks = &checked["checks"];
    assert_eq!(
        (&checks["checked"], &checks["agreed"], &checks["contested"]),
        (&3.into(), &3.into(), &0.into()),
        "{checked}"
    );
    assert_eq!((&checks["unattested"], &checks["refereeFailed"]), (&0.into(), &0.into()), "{checked}");
    assert_eq!(checked["providers"][0]["answered"], 3, "{checked}");
    // Without a referee, checks are refused before anything is leased.
    let said = refused(&["--check-share", "5%", "--requests", "1"]);
    assert!(said.contains("--referee"), "{said}");

    // Streamed, as it arrives, in text mode: the workload's events, the last one checkable.
    let mut command = Command::new(&cli_path);
    command.current_dir(devnet._dir.path()).env("OPENLEASE_RPC_URL", format!("http://127.0.0.1:{port}"));
    let streamed = command
        .env("OPENLEASE_PRIVATE_KEY", free)
        .args(["session", "run", "--indexer", &indexer, "--deposit", "1 USDC", "--budget", "1 USDC", "--stream"])
        .args(["--path", "/stream/3", "--requests", "1", "--provider", PROVIDER_3])
        .output()
        .expect("the CLI runs");
    let text = String::from_utf8_lossy(&streamed.stdout);
    let last = openlease_gateway::workload::hash_chain(3).to_string();
    assert!(
        text.contains(&format!("event: done\ndata: {last}")),
        "{text}\n{}",
        String::from_utf8_lossy(&streamed.stderr)
    );
    let lease = &report["leases"][0];
    assert_eq!(lease["leaseId"], used[0]["leaseId"], "{report}");
    assert!(lease["refundFrom"].as_u64().unwrap() > lease["endsAt"].as_u64().unwrap(), "{report}");
    let refund: u64 = lease["refund"]["raw"].as_str().unwrap().parse().unwrap();
    assert!(refund > 0 && refund < 1_000_000, "the deposit less what was attested: {report}");

    // A price cap below every offer leaves nothing to lease, said before anything is sent.
    let said = refused(&["--max-price", "0.000001 USDC", "--requests", "1"]);
    assert!(said.contains("qualifies") && said.contains("--max-price"), "{said}");

    // An app's own clients, unchanged, pay through a local tenant proxy: Python's `openai` package
    // (a completion and a streamed one) and curl reading a stream; the proxy's report says what was
    // served and paid, and SIGTERM ends the session with notice given and the report printed.
    let proxy_port = free_port();
    let mut proxy = Command::new(&cli_path)
        .current_dir(devnet._dir.path())
        .env("OPENLEASE_RPC_URL", format!("http://127.0.0.1:{port}"))
        .env("OPENLEASE_PRIVATE_KEY", free)
        .args(["session", "proxy", "--indexer", &indexer, "--deposit", "1 USDC", "--budget", "1 USDC"])
        .args(["--provider", PROVIDER_3, "--listen", &format!("127.0.0.1:{proxy_port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the proxy starts");
    let base = format!("http://127.0.0.1:{proxy_port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/openlease/session")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "the proxy never served");
        assert!(proxy.try_wait().unwrap().is_none(), "the proxy exited");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let expected = openlease_gateway::workload::chat_answer("hello market", 8).join(" ");
    let python = openlease_testkit::python_path();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/openai_chat.py");
    let openai = tokio::process::Command::new(&python)
        .arg(&script)
        .args([&format!("{base}/v1"), "hello market", "8"])
        .output()
        .await
        .expect("python runs");
    let said = String::from_utf8_lossy(&openai.stdout);
    assert!(openai.status.success(), "{said}{}", String::from_utf8_lossy(&openai.stderr));
    assert_eq!(said.lines().collect::<Vec<_>>(), [expected.as_str(), expected.as_str()], "the answer, checked");
    let body =
        r#"{"model":"openlease-demo","messages":[{"role":"user","content":"curl"}],"max_tokens":4,"stream":true}"#;
    let curl = tokio::process::Command::new("curl")
        .args(["-sSN", "--fail-with-body", "-H", "content-type: application/json", "-d", body])
        .arg(format!("{base}/v1/chat/completions"))
        .output()
        .await
        .expect("curl runs");
    let streamed = String::from_utf8_lossy(&curl.stdout);
    // The model's stream, whole, then the provider's attestation of it as one final event (which
    // SSE clients, listening for messages, pass over).
    let marker = format!("event: {}\ndata: ", openlease_client::wire::ATTESTATION_EVENT);
    let (answer, attestation) = streamed.split_once(&marker).unwrap_or_else(|| panic!("no attestation: {streamed}"));
    assert!(curl.status.success() && answer.trim_end().ends_with("data: [DONE]"), "{streamed}");
    let attestation = openlease_client::SignedAnswer::parse(attestation).expect("one attestation, last");
    assert!(attestation.covers(
        &openlease_client::attestation::request_bytes("POST", "/v1/chat/completions", body.as_bytes()),
        answer.as_bytes()
    ));
    for word in openlease_gateway::workload::chat_answer("curl", 4) {
        assert!(streamed.contains(&word), "{word} missing from {streamed}");
    }
    let report: serde_json::Value =
        reqwest::get(format!("{base}/openlease/session")).await.unwrap().json().await.unwrap();
    assert_eq!((report["answered"].as_u64(), report["failedRequests"].as_u64()), (Some(3), Some(0)), "{report}");
    assert_eq!(report["paidForNothing"]["raw"], "0", "{report}");
    assert_eq!(report["providers"][0]["provider"].as_str().unwrap().to_lowercase(), PROVIDER_3.to_lowercase());
    let pid = proxy.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let ended = proxy.wait_with_output().unwrap();
    let printed = String::from_utf8_lossy(&ended.stdout);
    assert!(ended.status.success(), "{printed}{}", String::from_utf8_lossy(&ended.stderr));
    assert!(printed.contains("session: 3 of 3 requests answered"), "{printed}");

    // Reorgs that drop whatever the providers just sent: the loop reports and goes on.
    let node = ProviderBuilder::new().connect_http(format!("http://127.0.0.1:{port}").parse().unwrap());
    for _ in 0..4 {
        node.anvil_reorg(ReorgOptions { depth: 2, tx_block_pairs: Vec::new() }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let after_reorgs = devnet.len();
    let at = devnet.wait_for("settled", after_reorgs, Duration::from_secs(60));
    assert!(devnet.lines.lock().unwrap()[at].contains("claimable"), "{}", devnet.output());

    // Eight days later every lease ran out of escrow days ago and its settlement window closed:
    // the loop says what happened and stops sending receipts the market refuses.
    node.anvil_increase_time(8 * 86_400).await.unwrap();
    node.evm_mine(None).await.unwrap();
    let from = devnet.len();
    devnet.wait_for("clock jumped", from, Duration::from_secs(30));
    devnet.wait_for("settlement window has closed", from, Duration::from_secs(30));
    devnet.wait_for("no running leases left", from, Duration::from_secs(30));
    assert!(node.get_block_number().await.unwrap() > 0);

    devnet.signal("TERM");
    let status = devnet.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}:\n{}", devnet.output());
    let started = Instant::now();
    while !(port_is_free(devnet.port) && port_is_free(devnet.api_port)) {
        assert!(started.elapsed() < Duration::from_secs(10), "anvil or the indexer outlived the devnet");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_port_in_use_is_named_and_a_hangup_stops_the_devnet() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut refused = Devnet::start(port, free_port());
    let status = refused.wait_exit(Duration::from_secs(20));
    assert!(!status.success());
    refused.wait_for(&format!("127.0.0.1:{port} (anvil's RPC) is in use"), 0, Duration::from_secs(5));
    drop(taken);

    let (port, api_port) = (free_port(), free_port());
    let mut devnet = Devnet::start(port, api_port);
    devnet.wait_for("Openlease devnet is up", 0, Duration::from_secs(120));
    devnet.signal("HUP");
    devnet.wait_exit(Duration::from_secs(20));
    let started = Instant::now();
    while !(port_is_free(port) && port_is_free(api_port)) {
        assert!(started.elapsed() < Duration::from_secs(10), "anvil or the indexer outlived the devnet");
        std::thread::sleep(Duration::from_millis(100));
    }
}
