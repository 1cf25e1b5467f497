//! `app`: the clients service binary. Placeholder while the adapters are built (issue 4
//! wires configuration, persistence, mail and HTTP here).

fn main() {
    eprintln!("clients: the service is not wired yet; see README.md");
    std::process::exit(2);
}
