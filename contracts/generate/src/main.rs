//! `openlease-artifacts`: compiles the Openlease contracts with foundry-compilers, through the
//! solc-js shim in `contracts/bin/solc`, and writes `contracts/artifacts/*.json` — the ABI and
//! bytecode the `openlease-contracts` bindings are generated from — and
//! `contracts/bindings/types.rs`, the Solidity enums and hard bounds as Rust, read from the AST so
//! that no crate retypes them. Both are committed so that the bindings build with cargo alone;
//! `--check` recompiles and fails if either drifted.
//!
//! `Openlease.json` carries the ABI the market's address answers: its own functions and those of
//! `OpenleaseExtension`, which it runs through its fallback. The generator fails if that ABI lacks
//! a function of `IOpenlease`.
//!
//! ```text
//! openlease-artifacts          # regenerate contracts/artifacts/
//! openlease-artifacts --check  # fail if contracts/artifacts/ is stale
//! openlease-artifacts --root ../other-checkout/contracts
//! ```

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use eyre::{Context, bail, eyre};
use foundry_compilers::{
    ConfigurableArtifacts, ProjectBuilder, ProjectPathsConfig,
    artifacts::{
        BytecodeHash, EvmVersion, Optimizer, Remapping, Settings, SettingsMetadata, output_selection::OutputSelection,
    },
    solc::{Solc, SolcCompiler, SolcSettings},
};
use serde_json::{Value, json};

mod types;

/// The Solidity files compiled, relative to `contracts/`, and the contracts kept from them.
const SOURCES: &[(&str, &[&str])] = &[
    ("src/Openlease.sol", &["Openlease"]),
    ("src/OpenleaseExtension.sol", &["OpenleaseExtension"]),
    ("src/interfaces/IOpenlease.sol", &["IOpenlease"]),
    ("src/interfaces/IOpenleaseEvents.sol", &["IOpenleaseEvents"]),
    ("src/interfaces/IOpenleaseErrors.sol", &["IOpenleaseErrors"]),
    ("src/verifiers/HashChainVerifier.sol", &["HashChainVerifier"]),
    ("test/mocks/MockStablecoin.sol", &["MockStablecoin"]),
    ("test/mocks/MockUSDT.sol", &["MockUSDT"]),
    ("test/harness/LeaseMathHarness.sol", &["LeaseMathHarness"]),
];

fn main() -> eyre::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|arg| arg == "--check");
    // `--root DIR` compiles another checkout's contracts/ (used to prove the output does not
    // depend on where the repository lives).
    let root = match args.iter().position(|arg| arg == "--root") {
        Some(i) => PathBuf::from(args.get(i + 1).ok_or_else(|| eyre!("--root needs a directory"))?),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
    }
    .canonicalize()?;
    let (artifacts, types) = compile(&root)?;
    let mut outputs: BTreeMap<PathBuf, String> = artifacts
        .into_iter()
        .map(|(name, content)| (root.join("artifacts").join(format!("{name}.json")), content))
        .collect();
    outputs.insert(root.join("bindings/types.rs"), types);

    if check {
        let stale: Vec<String> = outputs
            .iter()
            .filter(|(path, content)| std::fs::read_to_string(path).ok().as_deref() != Some(content.as_str()))
            .map(|(path, _)| path.display().to_string())
            .collect();
        if !stale.is_empty() {
            bail!(
                "contract artifacts are stale: {}\nRun `make artifacts` and commit contracts/artifacts/ and contracts/bindings/types.rs.",
                stale.join(", ")
            );
        }
        println!("contract artifacts are up to date ({} files)", outputs.len());
    } else {
        std::fs::create_dir_all(root.join("artifacts"))?;
        for (path, content) in &outputs {
            std::fs::write(path, content)?;
        }
        println!("wrote {} files under {}", outputs.len(), root.display());
    }
    Ok(())
}

/// Compiles the sources with the settings of `foundry.toml`; renders each kept contract, and the
/// Rust types module.
fn compile(root: &Path) -> eyre::Result<(BTreeMap<String, String>, String)> {
    let node_modules = root
        .join("../node_modules")
        .canonicalize()
        .wrap_err("node_modules is missing: run `make toolchain` (npm ci) first, the compiler is solc-js")?;
    let solc = Solc::new(root.join("bin/solc")).wrap_err("the solc-js shim at contracts/bin/solc does not run")?;
    let version = solc.version.to_string();

    let remappings = [
        format!("@openzeppelin/contracts/={}/@openzeppelin/contracts/", node_modules.display()),
        format!("forge-std/={}/@layerzerolabs/toolbox-foundry/lib/forge-std/", node_modules.display()),
    ]
    .iter()
    .map(|r| r.parse::<Remapping>().map_err(|e| eyre!("bad remapping {r}: {e}")))
    .collect::<eyre::Result<Vec<_>>>()?;
    let paths = ProjectPathsConfig::builder()
        .root(root)
        .sources(root.join("src"))
        .tests(root.join("test"))
        .libs([node_modules])
        .remappings(remappings.clone())
        .build_with_root(root);

    // Mirrors foundry.toml: same compiler input, same bytecode as forge builds.
    let mut settings = Settings {
        optimizer: Optimizer { enabled: Some(true), runs: Some(200), details: None },
        evm_version: Some(EvmVersion::Prague),
        remappings,
        ..Default::default()
    };
    settings.metadata = Some(SettingsMetadata::new(BytecodeHash::None, false));
    // The AST too (file level): the enums and constants for `types.rs` come from it. Output
    // selection does not change the bytecode.
    let mut file_selection = OutputSelection::default_file_output_selection();
    file_selection.insert(String::new(), vec!["ast".to_string()]);
    settings.output_selection = OutputSelection(BTreeMap::from([("*".to_string(), file_selection)]));

    let project = ProjectBuilder::<SolcCompiler, ConfigurableArtifacts>::new(Default::default())
        .paths(paths)
        .settings(SolcSettings { settings, ..Default::default() })
        .ephemeral()
        .no_artifacts()
        .offline()
        .build(SolcCompiler::Specific(solc))?;
    let files = SOURCES.iter().map(|(file, _)| root.join(file)).collect::<Vec<_>>();
    let output = project.compile_files(files)?;
    if output.has_compiler_errors() {
        bail!("compilation failed:\n{output}");
    }

    let mut values = BTreeMap::new();
    for (_, names) in SOURCES {
        for name in *names {
            let artifact = output.find_first(name).ok_or_else(|| eyre!("{name} missing from the compiler output"))?;
            values.insert(name.to_string(), serde_json::to_value(artifact)?);
        }
    }
    let extension = values.remove("OpenleaseExtension").ok_or_else(|| eyre!("OpenleaseExtension missing"))?;
    let interface = values_abi(&values, "IOpenlease")?;
    let market = values.get_mut("Openlease").ok_or_else(|| eyre!("Openlease missing"))?;
    market["abi"] = market_abi(&market["abi"], &extension["abi"], &interface)?;

    let mut rendered = BTreeMap::new();
    for (_, names) in SOURCES {
        for name in *names {
            let Some(value) = values.get(*name) else { continue };
            let pick = |key: &str| value.get(key).cloned().unwrap_or(Value::Null);
            let object = |key: &str| value.pointer(&format!("/{key}/object")).cloned().unwrap_or(Value::Null);
            let mut doc = json!({
                "contractName": name,
                "compiler": version,
                "abi": pick("abi"),
            });
            if object("bytecode").as_str().is_some_and(|code| code.len() > 2) {
                doc["bytecode"] = object("bytecode");
                doc["deployedBytecode"] = object("deployedBytecode");
                doc["immutableReferences"] =
                    value.pointer("/deployedBytecode/immutableReferences").cloned().unwrap_or_else(|| json!({}));
            }
            rendered.insert(name.to_string(), serde_json::to_string_pretty(&doc)? + "\n");
        }
    }

    let mut asts = BTreeMap::new();
    for (path, source) in output.output().sources.sources() {
        if let Some(ast) = &source.ast {
            asts.insert(path.clone(), serde_json::to_value(ast)?);
        }
    }
    Ok((rendered, types::render(&asts)?))
}

fn values_abi(values: &BTreeMap<String, Value>, name: &str) -> eyre::Result<Value> {
    Ok(values.get(name).ok_or_else(|| eyre!("{name} missing"))?["abi"].clone())
}

/// The ABI the market's address answers: `Openlease`'s own entries, then the extension's that it
/// lacks (its constructor aside), in the compiler's order. Fails if an `IOpenlease` function is
/// answered by neither, so that an interface function cannot silently lack an implementation.
fn market_abi(core: &Value, extension: &Value, interface: &Value) -> eyre::Result<Value> {
    let key = |entry: &Value| {
        let inputs: Vec<String> = entry["inputs"]
            .as_array()
            .map(|inputs| inputs.iter().map(|i| i["type"].to_string()).collect())
            .unwrap_or_default();
        format!("{}:{}({})", entry["type"], entry["name"], inputs.join(","))
    };
    let mut merged: Vec<Value> = core.as_array().cloned().unwrap_or_default();
    let mut seen: std::collections::BTreeSet<String> = merged.iter().map(key).collect();
    for entry in extension.as_array().into_iter().flatten() {
        if entry["type"] != "constructor" && seen.insert(key(entry)) {
            merged.push(entry.clone());
        }
    }
    let missing: Vec<String> = interface
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["type"] == "function" && !seen.contains(&key(entry)))
        .map(|entry| entry["name"].as_str().unwrap_or("?").to_string())
        .collect();
    if !missing.is_empty() {
        bail!("Openlease answers no function named {} of IOpenlease", missing.join(", "));
    }
    Ok(Value::Array(merged))
}
