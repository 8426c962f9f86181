//! `openlease-artifacts`: compiles the Openlease contracts with foundry-compilers, through the
//! solc-js shim in `contracts/bin/solc`, and writes `contracts/artifacts/*.json` — the ABI and
//! bytecode the `openlease-contracts` bindings are generated from. The artifacts are committed so
//! that the bindings build with cargo alone; `--check` recompiles and fails if they drifted.
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
        BytecodeHash, EvmVersion, Optimizer, Remapping, Settings, SettingsMetadata,
        output_selection::OutputSelection,
    },
    solc::{Solc, SolcCompiler, SolcSettings},
};
use serde_json::{Value, json};

/// The Solidity files compiled, relative to `contracts/`, and the contracts kept from them.
const SOURCES: &[(&str, &[&str])] = &[
    ("src/Openlease.sol", &["Openlease"]),
    ("src/interfaces/IOpenlease.sol", &["IOpenlease"]),
    ("src/interfaces/IOpenleaseEvents.sol", &["IOpenleaseEvents"]),
    ("src/interfaces/IOpenleaseErrors.sol", &["IOpenleaseErrors"]),
    ("test/mocks/MockStablecoin.sol", &["MockStablecoin"]),
    ("test/mocks/MockUSDT.sol", &["MockUSDT"]),
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
    let out_dir = root.join("artifacts");
    let artifacts = compile(&root)?;

    if check {
        let mut stale = Vec::new();
        for (name, content) in &artifacts {
            let path = out_dir.join(format!("{name}.json"));
            if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
                stale.push(path.display().to_string());
            }
        }
        if !stale.is_empty() {
            bail!(
                "contract artifacts are stale: {}\nRun `make artifacts` and commit contracts/artifacts/.",
                stale.join(", ")
            );
        }
        println!("contract artifacts are up to date ({} files)", artifacts.len());
    } else {
        std::fs::create_dir_all(&out_dir)?;
        for (name, content) in &artifacts {
            std::fs::write(out_dir.join(format!("{name}.json")), content)?;
        }
        println!("wrote {} artifacts to {}", artifacts.len(), out_dir.display());
    }
    Ok(())
}

/// Compiles the sources with the settings of `foundry.toml` and renders each kept contract.
fn compile(root: &Path) -> eyre::Result<BTreeMap<String, String>> {
    let node_modules = root.join("../node_modules").canonicalize().wrap_err(
        "node_modules is missing: run `make toolchain` (npm ci) first, the compiler is solc-js",
    )?;
    let solc = Solc::new(root.join("bin/solc")).wrap_err("the solc-js shim at contracts/bin/solc does not run")?;
    let version = solc.version.to_string();

    let remappings = [
        format!("@openzeppelin/contracts/={}/@openzeppelin/contracts/", node_modules.display()),
        format!(
            "forge-std/={}/@layerzerolabs/toolbox-foundry/lib/forge-std/",
            node_modules.display()
        ),
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
    settings.output_selection = OutputSelection::default_output_selection();

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

    let mut rendered = BTreeMap::new();
    for (_, names) in SOURCES {
        for name in *names {
            let artifact = output.find_first(name).ok_or_else(|| eyre!("{name} missing from the compiler output"))?;
            let value = serde_json::to_value(artifact)?;
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
                doc["immutableReferences"] = value
                    .pointer("/deployedBytecode/immutableReferences")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
            }
            rendered.insert(name.to_string(), serde_json::to_string_pretty(&doc)? + "\n");
        }
    }
    Ok(rendered)
}
