//! `fhirdir udap dev-pki`: a throwaway PKI to try UDAP on a laptop: a CA, a server
//! certificate whose SAN is the tenant's FHIR base, and a client certificate, with the
//! commands that configure the tenant with them.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;
use store::TenantName;

#[derive(Subcommand, Debug)]
pub enum UdapCommand {
    /// Write a throwaway CA, server and client certificate for trying UDAP locally.
    DevPki {
        /// The tenant the server certificate is for.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The server's public base URL (the SAN is {base-url}/fhir/{tenant}).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base_url: String,
        /// The client certificate's SAN URI (the client's `iss` when it registers).
        #[arg(long, default_value = "https://client.example.org/fhirdir-dev")]
        client_uri: String,
        /// Folder to write the PEM files and the community configuration to.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: UdapCommand) -> anyhow::Result<()> {
    let UdapCommand::DevPki {
        tenant,
        base_url,
        client_uri,
        out,
    } = cmd;
    let tenant = TenantName::parse(&tenant).context("invalid tenant name")?;
    let base = format!("{}/fhir/{tenant}", base_url.trim_end_matches('/'));
    let pki = udap::dev_pki(&base, &client_uri).context("generating the PKI")?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let files = [
        ("ca.pem", &pki.ca_cert_pem),
        ("ca.key.pem", &pki.ca_key_pem),
        ("server.pem", &pki.server_cert_pem),
        ("server.key.pem", &pki.server_key_pem),
        ("client.pem", &pki.client_cert_pem),
        ("client.key.pem", &pki.client_key_pem),
    ];
    for (name, pem) in files {
        let path = out.join(name);
        std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    let community = json!({
        "uri": "urn:fhirdir:dev-community",
        "anchors": [pki.ca_cert_pem],
        "server_certificate_chain": [pki.server_cert_pem],
        "server_private_key": pki.server_key_pem,
        "default": true,
    });
    let config = out.join("community.json");
    std::fs::write(&config, serde_json::to_string_pretty(&community)?)
        .with_context(|| format!("writing {}", config.display()))?;
    let root = base_url.trim_end_matches('/');
    println!(
        "wrote a throwaway PKI to {} (never use it in production)",
        out.display()
    );
    println!("server certificate SAN: {base}");
    println!("client certificate SAN: {client_uri}");
    println!();
    println!("configure the tenant (the server must run with FHIRDIR_ADMIN_TOKEN set):");
    println!(
        "  curl -X PUT -H \"Authorization: Bearer $FHIRDIR_ADMIN_TOKEN\" \
         -H 'Content-Type: application/json' --data @{} \
         {root}/admin/tenants/{tenant}/udap/communities/dev",
        config.display()
    );
    println!("then check the signed metadata:");
    println!("  curl {base}/.well-known/udap");
    println!(
        "a client registers at {base}/auth/register with a software statement signed by \
         client.key.pem and carrying client.pem in its x5c header"
    );
    Ok(())
}
